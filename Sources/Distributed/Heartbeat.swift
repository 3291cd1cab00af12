import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Every rank tells every other, every `interval` over UDP, where it is: the collectives it has entered, the one
/// it is inside, and its epoch, step and phase. When a collective stalls, the watchdog reads the latest word of
/// each rank to name those that have not arrived and say what they were doing. The interval is short so that a
/// rank's last word is close to where it stopped, and long enough that the datagrams cost nothing next to a step.
///
/// Why it holds up while the ranks do not:
/// 1. UDP needs no connection: a peer that is stopped, dead or cut off cannot block the sender, and the send is
///    non-blocking besides. A datagram that is lost is replaced by the next one, an interval later.
/// 2. Its thread makes no MPI call (MPI runs at MPI_THREAD_FUNNELED: only the main thread may), so it goes on
///    while the main thread is stuck inside a collective; it reads training state only through atomics.
/// 3. A rank listens on one socket bound to every interface and is sent to at each of its IPv4 addresses, as
///    which of them reaches it from another host is unknown; a rank that shares this one's kernel and network
///    namespace is sent to at 127.0.0.1 alone. A sender's counter keeps the newest of the copies.
/// 4. Anyone on the network may send to the port: a datagram counts only with the exact size, this job's token
///    and fields in range.
/// 5. If the socket cannot be made, training goes on: the watchdog reports as it did without a heartbeat.
final class Heartbeat: Sendable {
    /// Every rank's host name.
    let hosts: [String]
    private let rank: Int
    private let descriptor: Int32
    /// Drawn by rank 0 for this job, so that datagrams of another job on a reused port are dropped.
    private let token: UInt64
    /// Where to send to each rank: none for this rank and for ranks without a socket.
    private let destinations: [[Endpoint]]
    private let ranksWithoutSocket: Set<Int>
    private let latest: Mutex<[Heard?]>

    static let interval = 0.25

    private struct Endpoint: Sendable {
        let address: UInt32
        let port: UInt16
    }

    private struct Heard {
        var status: RankStatus
        var counter: UInt64
        var uptime: UInt64
    }

    /// Makes this rank's socket and exchanges addresses and host names with every rank, in one allreduce of a
    /// table with a row per rank that every rank must join, socket or none. Nil when this rank's socket could
    /// not be made.
    init?(over communicator: any Communicator) {
        let rank = communicator.rank, size = communicator.size
        let bound = Self.makeSocket()
        var table = [Double](repeating: 0, count: size * AddressRow.width)
        if let bound {
            AddressRow.write(port: bound.port, key: Self.loopbackKey, addresses: Self.localAddresses(), host: communicator.host,
                             token: rank == 0 ? UInt64.random(in: 1..<(1 << 52)) : 0, into: &table, rank: rank)
        } else {
            AddressRow.write(port: 0, key: 0, addresses: [], host: communicator.host, token: 0, into: &table, rank: rank)
        }
        communicator.allreduce(&table, .sum)
        guard let bound else { return nil }
        let rows = (0..<size).map { AddressRow(table, rank: $0) }
        self.rank = rank
        hosts = rows.map(\.host)
        descriptor = bound.descriptor
        token = rows[0].token
        ranksWithoutSocket = Set((0..<size).filter { rows[$0].port == 0 })
        destinations = rows.enumerated().map { peer, row in
            guard peer != rank, row.port != 0 else { return [] }
            let loopback: UInt32 = 0x7F00_0001
            return (row.key == rows[rank].key ? [loopback] : row.addresses).map { Endpoint(address: $0, port: row.port) }
        }
        latest = Mutex([Heard?](repeating: nil, count: size))
    }

    /// Starts the thread that sends `status()` to every rank once an interval and keeps what the others send.
    func start(status: @escaping @Sendable () -> RankStatus) {
        Thread.detachNewThread { [self] in beat(status) }
    }

    /// What this rank knows of each rank now (its own entry says nothing).
    func sightings() -> [Sighting] {
        latest.withLock { latest in
            // Read under the lock: every time kept was read before it, so none is later than now.
            let now = DispatchTime.now().uptimeNanoseconds
            return latest.indices.map { peer in
                if ranksWithoutSocket.contains(peer) { return .noHeartbeat }
                guard let heard = latest[peer] else { return .neverHeard }
                return .heard(heard.status, secondsAgo: Double(now - heard.uptime) / 1e9)
            }
        }
    }

    private func beat(_ status: @Sendable () -> RankStatus) {
        var counter: UInt64 = 0
        var nextSend: UInt64 = 0
        while true {
            var now = DispatchTime.now().uptimeNanoseconds
            if now >= nextSend {
                counter += 1
                send(Datagram(token: token, rank: rank, counter: counter, status: status()))
                now = DispatchTime.now().uptimeNanoseconds
                nextSend = now + UInt64(Self.interval * 1e9)
            }
            var waitFor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&waitFor, 1, Int32((nextSend - now) / 1_000_000) + 1)
            receive()
        }
    }

    private func send(_ datagram: Datagram) {
        let bytes = datagram.bytes
        for endpoint in destinations.joined() {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = endpoint.port.bigEndian
            address.sin_addr.s_addr = endpoint.address.bigEndian
            // Non-blocking: a full send buffer drops this beat rather than wait; errors (no route) are the same loss.
            _ = bytes.withUnsafeBytes { bytes in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
    }

    /// Reads every datagram waiting, keeping each rank's newest.
    private func receive() {
        var buffer = [UInt8](repeating: 0, count: Datagram.size + 1)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return }
            guard let datagram = Datagram(buffer[0..<count], token: token, ranks: hosts.count), datagram.rank != rank else {
                continue
            }
            let uptime = DispatchTime.now().uptimeNanoseconds
            latest.withLock { latest in
                if let heard = latest[datagram.rank], heard.counter >= datagram.counter { return }
                latest[datagram.rank] = Heard(status: datagram.status, counter: datagram.counter, uptime: uptime)
            }
        }
    }

    /// A non-blocking UDP socket on an ephemeral port of every interface, or nil.
    private static func makeSocket() -> (descriptor: Int32, port: UInt16)? {
        #if canImport(Glibc)
        let datagramType = Int32(SOCK_DGRAM.rawValue)
        #else
        let datagramType = SOCK_DGRAM
        #endif
        let descriptor = socket(AF_INET, datagramType, 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound, fcntl(descriptor, F_SETFL, O_NONBLOCK) == 0 else {
            close(descriptor)
            return nil
        }
        return (descriptor, UInt16(bigEndian: address.sin_port))
    }

    /// This host's IPv4 addresses on interfaces that are up, loopback aside, in the system's order.
    private static func localAddresses() -> [UInt32] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [UInt32] = []
        var entry = list
        while let current = entry?.pointee {
            entry = current.ifa_next
            let flags = Int32(bitPattern: current.ifa_flags)
            guard let address = current.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0 else { continue }
            addresses.append(address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt32(bigEndian: $0.pointee.sin_addr.s_addr)
            })
        }
        return addresses
    }

    /// Equal on two ranks when 127.0.0.1 on one reaches the other: the same kernel (its boot id) and the same
    /// network namespace. A host name alone would not do: network namespaces on one machine share it, or not.
    /// Where /proc has neither, the host name. 52 bits, which a Double holds exactly.
    private static var loopbackKey: UInt64 {
        let bootID = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
        let namespace = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        return hash52(bootID.flatMap { boot in namespace.map { boot + $0 } } ?? hostName())
    }
}

/// A rank's row of the address table, in numbers a Double holds exactly: port, loopback key, job token (rank 0's
/// row only), address count, addresses, host name length and bytes.
private struct AddressRow {
    static let maximumAddresses = 8
    /// Linux's HOST_NAME_MAX.
    static let maximumHostBytes = 64
    static let width = 4 + maximumAddresses + 1 + maximumHostBytes

    let port: UInt16
    let key: UInt64
    let token: UInt64
    let addresses: [UInt32]
    let host: String

    static func write(port: UInt16, key: UInt64, addresses: [UInt32], host: String, token: UInt64,
                      into table: inout [Double], rank: Int) {
        let base = rank * width
        let addresses = addresses.prefix(maximumAddresses), host = Array(host.utf8.prefix(maximumHostBytes))
        table[base] = Double(port)
        table[base + 1] = Double(key)
        table[base + 2] = Double(token)
        table[base + 3] = Double(addresses.count)
        for (i, address) in addresses.enumerated() { table[base + 4 + i] = Double(address) }
        let hostBase = base + 4 + maximumAddresses
        table[hostBase] = Double(host.count)
        for (i, byte) in host.enumerated() { table[hostBase + 1 + i] = Double(byte) }
    }

    init(_ table: [Double], rank: Int) {
        let base = rank * Self.width
        port = UInt16(table[base])
        key = UInt64(table[base + 1])
        token = UInt64(table[base + 2])
        addresses = (0..<min(Int(table[base + 3]), Self.maximumAddresses)).map { UInt32(table[base + 4 + $0]) }
        let hostBase = base + 4 + Self.maximumAddresses
        let hostBytes = (0..<min(Int(table[hostBase]), Self.maximumHostBytes)).map { UInt8(table[hostBase + 1 + $0]) }
        host = String(decoding: hostBytes, as: UTF8.self)
    }
}

/// One heartbeat: little-endian 64-bit fields, a format name and version first.
struct Datagram {
    static let magic = "mnisthb1".utf8.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    static let fields = 9
    static let size = fields * 8

    let token: UInt64
    let rank: Int
    let counter: UInt64
    let status: RankStatus

    init(token: UInt64, rank: Int, counter: UInt64, status: RankStatus) {
        self.token = token
        self.rank = rank
        self.counter = counter
        self.status = status
    }

    var bytes: [UInt8] {
        let values: [UInt64] = [Self.magic, token, UInt64(rank), counter, UInt64(status.entered),
                                UInt64(status.inside?.rawValue ?? 0), UInt64(status.epoch), UInt64(status.step),
                                UInt64(status.phase.rawValue)]
        return values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }

    /// Nil unless `bytes` is a heartbeat of this job (`token`) from one of its `ranks`, every field in range.
    init?(_ bytes: ArraySlice<UInt8>, token: UInt64, ranks: Int) {
        guard bytes.count == Self.size else { return nil }
        let values = (0..<Self.fields).map { field in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[bytes.startIndex + 8 * field + $1]) << (8 * $1) }
        }
        // Counts past 2^53 are beyond any run; capping them keeps every conversion to Int exact.
        let limit: UInt64 = 1 << 53
        guard values[0] == Self.magic, values[1] == token, values[2] < UInt64(ranks),
              values[4] <= limit, values[6] <= limit, values[7] <= limit,
              values[5] == 0 || Collective(rawValue: Int(min(values[5], limit))) != nil,
              let phase = RankActivity.Phase(rawValue: Int(min(values[8], limit))) else { return nil }
        self.token = token
        rank = Int(values[2])
        counter = values[3]
        status = RankStatus(entered: Int(values[4]), inside: Collective(rawValue: Int(values[5])), epoch: Int(values[6]),
                            step: Int(values[7]), phase: phase)
    }
}
