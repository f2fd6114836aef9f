import Synchronization

/// Which provider created each response id the gateway relayed, so a call
/// that names one (`previous_response_id`, `GET /v1/responses/{id}`, …) goes
/// back to it (the spec's "Response affinity"). Without a database: an LRU
/// of `capacity` ids in this process, shared by its event loops. An id it
/// no longer holds (evicted, a restart, another replica) is found by trying
/// the candidates, which costs a 404 per wrong guess, not an error.
///
/// One lock around a few array writes: it is taken only by Responses calls
/// (one lookup and one insert each), not by every request.
///
/// Providers are remembered by name, so a reload that keeps a provider keeps
/// its responses reachable, and one that removes it turns its ids into misses.
public final class ResponseAffinity: Sendable {
    public static let defaultCapacity = 100_000

    public let capacity: Int
    private let table: Mutex<LRUTable>

    public init(capacity: Int = ResponseAffinity.defaultCapacity) {
        precondition(capacity > 0)
        self.capacity = capacity
        table = Mutex(LRUTable(capacity: capacity))
    }

    /// `provider` created (or holds) response `id`.
    public func remember(_ id: String, provider: String) {
        table.withLock { $0.set(id, provider: provider) }
    }

    /// The provider that holds `id`, if known; a hit counts as a use.
    public func provider(of id: String) -> String? {
        table.withLock { $0.get(id) }
    }

    /// `id` was deleted.
    public func forget(_ id: String) {
        table.withLock { $0.remove(id) }
    }

    public var count: Int { table.withLock { $0.count } }
}

/// A fixed-capacity LRU map from response id to provider, as parallel arrays
/// linked in recency order (no node objects, nothing allocated once full).
/// Provider names are interned: 100,000 ids of three providers hold three names.
struct LRUTable: ~Copyable {
    private let capacity: Int
    private var slots: [String: Int32] = [:]
    private var ids: [String] = []
    private var providers: [UInt16] = []
    /// Recency links: `newer`/`older` neighbours, -1 at the ends.
    private var newer: [Int32] = []
    private var older: [Int32] = []
    private var newest: Int32 = -1
    private var oldest: Int32 = -1
    private var free: [Int32] = []
    private var names: [String] = []
    private var nameIndex: [String: UInt16] = [:]

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { slots.count }

    mutating func get(_ id: String) -> String? {
        guard let slot = slots[id] else { return nil }
        moveToNewest(slot)
        return names[Int(providers[Int(slot)])]
    }

    mutating func set(_ id: String, provider: String) {
        let name = intern(provider)
        if let slot = slots[id] {
            providers[Int(slot)] = name
            moveToNewest(slot)
            return
        }
        let slot: Int32
        if slots.count >= capacity {
            // Full: the least recently used id makes room.
            slot = oldest
            unlink(slot)
            slots[ids[Int(slot)]] = nil
            ids[Int(slot)] = id
            providers[Int(slot)] = name
        } else if let reused = free.popLast() {
            slot = reused
            ids[Int(slot)] = id
            providers[Int(slot)] = name
        } else {
            slot = Int32(ids.count)
            ids.append(id)
            providers.append(name)
            newer.append(-1)
            older.append(-1)
        }
        slots[id] = slot
        linkAsNewest(slot)
    }

    mutating func remove(_ id: String) {
        guard let slot = slots.removeValue(forKey: id) else { return }
        unlink(slot)
        ids[Int(slot)] = ""
        free.append(slot)
    }

    /// Provider names are few (the config's); a name no longer used stays,
    /// bounded by the distinct names ever configured.
    private mutating func intern(_ name: String) -> UInt16 {
        if let index = nameIndex[name] { return index }
        let index = UInt16(truncatingIfNeeded: names.count)
        names.append(name)
        nameIndex[name] = index
        return index
    }

    private mutating func moveToNewest(_ slot: Int32) {
        guard slot != newest else { return }
        unlink(slot)
        linkAsNewest(slot)
    }

    private mutating func unlink(_ slot: Int32) {
        let index = Int(slot)
        let newerSlot = newer[index]
        let olderSlot = older[index]
        if newerSlot >= 0 { older[Int(newerSlot)] = olderSlot } else { newest = olderSlot }
        if olderSlot >= 0 { newer[Int(olderSlot)] = newerSlot } else { oldest = newerSlot }
        newer[index] = -1
        older[index] = -1
    }

    private mutating func linkAsNewest(_ slot: Int32) {
        let index = Int(slot)
        older[index] = newest
        newer[index] = -1
        if newest >= 0 { newer[Int(newest)] = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}
