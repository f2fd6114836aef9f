/// `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS
/// (the form of `REDIS_URL` that Heroku, Upstash, ElastiCache and the redis
/// CLI all take). The password is percent-decoded and never printed:
/// `description` is the URL without it.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var tls: Bool
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var database: Int

    public init(tls: Bool = false, host: String, port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.tls = tls
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// nil and a reason when `text` is not such a URL.
    public static func parse(_ text: String) -> (url: RedisURL?, problem: String?) {
        var rest: Substring
        let tls: Bool
        if text.hasPrefix("redis://") {
            (tls, rest) = (false, text.dropFirst("redis://".count))
        } else if text.hasPrefix("rediss://") {
            (tls, rest) = (true, text.dropFirst("rediss://".count))
        } else {
            return (nil, "must start with redis:// or rediss://")
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let name = PercentEncoding.decode(credentials[..<colon], plusAsSpace: false)
                user = name.isEmpty ? nil : name
                password = PercentEncoding.decode(credentials[credentials.index(after: colon)...], plusAsSpace: false)
            } else if !credentials.isEmpty {
                // `redis://secret@host`: the redis CLI reads a lone name as the password.
                password = PercentEncoding.decode(credentials, plusAsSpace: false)
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else { return (nil, "the database after '/' must be a number") }
                database = number
            }
        }
        var host: Substring
        var port = 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return (nil, "an IPv6 host needs its closing ']'") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()), (1...65535).contains(number) else { return (nil, "the port must be 1-65535") }
                port = number
            } else if !after.isEmpty {
                return (nil, "unexpected text after the host")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else { return (nil, "the port must be 1-65535") }
            port = number
        } else {
            host = rest
        }
        guard !host.isEmpty else { return (nil, "the host is missing") }
        return (RedisURL(tls: tls, host: String(host), port: port, user: user, password: password, database: database), nil)
    }

    /// Without the password.
    public var description: String {
        let scheme = tls ? "rediss" : "redis"
        let credentials = user.map { "\($0)@" } ?? (password != nil ? "***@" : "")
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(credentials)\(hostText):\(port)/\(database)"
    }
}
