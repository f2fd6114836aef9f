import NIOCore

/// The life of one connection to the shared store, as a value: connect,
/// handshake (AUTH, SELECT, loading the scripts), serve, and after any
/// failure reconnect with exponential backoff, without end and by itself.
/// `RedisClient` performs the actions; the machine never sees a socket.
///
///     var machine = RedisConnectionStateMachine()
///     machine.start()                    // .connect
///     machine.connected()                // .sendHandshake
///     machine.handshakeSucceeded()       // .ready
///     machine.connectionLost("reset")    // .failPendingAndReconnect(after: 50 ms, …)
package struct RedisConnectionStateMachine {
    package enum Action: Equatable {
        case connect
        case sendHandshake
        /// Commands may flow.
        case ready
        /// Fail what is pending with `reason`, drop the connection, and try
        /// again after `delay`.
        case failPendingAndReconnect(after: TimeAmount, reason: String)
        /// Drop the connection for good (shutdown or a replaced config).
        case close
        case none
    }

    package enum State: Equatable {
        case idle
        case connecting
        case handshaking
        case ready
        case waitingToReconnect
        case stopped
    }

    package private(set) var state = State.idle
    /// Failures in a row, for the backoff.
    package private(set) var failures = 0
    package private(set) var lastError: String?

    package static let initialBackoff = TimeAmount.milliseconds(50)
    package static let maximumBackoff = TimeAmount.seconds(2)

    package init() {}

    package var isReady: Bool { state == .ready }

    package mutating func start() -> Action {
        guard state == .idle else { return .none }
        state = .connecting
        return .connect
    }

    package mutating func connected() -> Action {
        guard state == .connecting else { return .none }
        state = .handshaking
        return .sendHandshake
    }

    package mutating func handshakeSucceeded() -> Action {
        guard state == .handshaking else { return .none }
        state = .ready
        failures = 0
        return .ready
    }

    /// A connect that failed, a refused handshake (a wrong password), or a
    /// connection lost or reset for being stuck.
    package mutating func connectionLost(_ reason: String) -> Action {
        switch state {
        case .connecting, .handshaking, .ready:
            state = .waitingToReconnect
            lastError = reason
            let delay = Self.backoff(failures: failures)
            failures += 1
            return .failPendingAndReconnect(after: delay, reason: reason)
        case .idle, .waitingToReconnect, .stopped:
            return .none
        }
    }

    package mutating func reconnectTimerFired() -> Action {
        guard state == .waitingToReconnect else { return .none }
        state = .connecting
        return .connect
    }

    package mutating func stop() -> Action {
        guard state != .stopped else { return .none }
        state = .stopped
        return .close
    }

    /// 50 ms, doubling per failure in a row, at most 2 s.
    package static func backoff(failures: Int) -> TimeAmount {
        let nanoseconds = initialBackoff.nanoseconds << min(failures, 10)
        return .nanoseconds(min(nanoseconds, maximumBackoff.nanoseconds))
    }
}
