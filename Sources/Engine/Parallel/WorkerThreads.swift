import CThreads
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Threads kept for the life of a training run, each running its part of one job at a time: `run` hands every
/// worker its index, the calling thread working as worker 0, and returns when all of them are done. Between jobs
/// a worker spins for a while on the job number (a step's jobs follow each other within microseconds, and waking
/// a sleeping thread costs more than the job of a small model), then sleeps on a condition variable; none is
/// created per job. Workers can be pinned to CPUs. Where threads outnumber the CPUs they may use, nobody spins:
/// a spinning thread would hold the very CPU that the thread it waits for needs.
public final class WorkerThreads: @unchecked Sendable {
    /// Workers, the calling thread included.
    public let count: Int
    private var threads: [pthread_t] = []
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // The job in hand, written before its number is published and read after it is seen.
    private var job: ((Int) -> Void)?
    // Atomic words: the job number (workers run each number once; -1 stops them), workers still on the job.
    private let jobNumber = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    private let running = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    /// Pauses a waiting thread spins through before it sleeps (a worker) or yields (the caller): some tens of
    /// microseconds, or none when threads take turns on CPUs.
    private let spins: Int

    /// `count` workers; `cpus`, when given, the CPUs to pin them to in order (worker 0, the caller, included).
    /// `sharesCPUs`: other threads (other ranks' workers, say) compete for the same CPUs.
    public init(count: Int, cpus: [Int]? = nil, sharesCPUs: Bool = false) {
        precondition(count >= 1, "WorkerThreads: at least one worker")
        self.count = count
        let usable = cpus?.count ?? Self.allowedCPUs().count
        spins = sharesCPUs || (usable > 0 && usable < count) ? 0 : 20_000
        jobNumber.initialize(to: 0)
        running.initialize(to: 0)
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
        if let cpus, !cpus.isEmpty { _ = cthreads_pin_to_cpu(Int32(cpus[0])) }
        for index in 1..<count {
            let cpu = cpus.flatMap { $0.isEmpty ? nil : $0[index % $0.count] }
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index, cpu: cpu)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                let worker = Unmanaged<WorkerContext>.fromOpaque(context!).takeRetainedValue()
                // Best effort: a CPU the scheduler refuses leaves the thread where it is.
                if let cpu = worker.cpu { _ = cthreads_pin_to_cpu(Int32(cpu)) }
                worker.pool.work(as: worker.index)
                return nil
            }, context)
            if status != 0 { fatalError("WorkerThreads: pthread_create failed: \(status)") }
            threads.append(thread)
        }
    }

    deinit {
        publish(-1)
        for thread in threads { pthread_join(thread, nil) }
        jobNumber.deallocate()
        running.deallocate()
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(lock)
        wake.deallocate()
        lock.deallocate()
    }

    /// Part `part` of `count` items cut into `parts` contiguous parts whose bounds are multiples of `granule` (but
    /// the last, which ends at `count`). With a granule of 1 sizes differ by at most one: the ranks' cut of a global
    /// batch (`Communicator.share`), which the threads of a rank repeat on its share.
    public static func share(of count: Int, part: Int, parts: Int, granule: Int = 1) -> Range<Int> {
        count * part / parts / granule * granule..<(part + 1 == parts ? count : count * (part + 1) / parts / granule * granule)
    }

    /// Worker `worker`'s part of `count` items (`share(of:part:parts:granule:)`).
    public func share(of count: Int, worker: Int, granule: Int = 1) -> Range<Int> {
        Self.share(of: count, part: worker, parts: self.count, granule: granule)
    }

    /// Runs `body(i)` on worker i for every i in 0..<count, and returns when every one has returned.
    public func run(_ body: (Int) -> Void) {
        guard count > 1 else { return body(0) }
        withoutActuallyEscaping(body) { body in
            job = body
            cthreads_store(running, count - 1)
            publish(cthreads_load(jobNumber) + 1)
            body(0)
            // The job may not outlive this call: wait until every worker has left it.
            var left = cthreads_spin_while_equal(running, count - 1, spins)
            while left != 0 {
                cthreads_yield()
                left = cthreads_spin_while_equal(running, left, spins)
            }
            job = nil
        }
    }

    /// Sets the job number and wakes the workers that went to sleep.
    private func publish(_ number: Int) {
        cthreads_store(jobNumber, number)
        pthread_mutex_lock(lock)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(lock)
    }

    private func work(as index: Int) {
        var seen = 0
        while true {
            var number = cthreads_spin_while_equal(jobNumber, seen, spins)
            if number == seen {
                pthread_mutex_lock(lock)
                while cthreads_load(jobNumber) == seen { pthread_cond_wait(wake, lock) }
                pthread_mutex_unlock(lock)
                number = cthreads_load(jobNumber)
            }
            if number < 0 { return }
            seen = number
            job!(index)
            _ = cthreads_add(running, -1)
        }
    }

    /// The CPUs this process may run on, in order; empty where the system does not say.
    public static func allowedCPUs() -> [Int] {
        let capacity = 4096
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: capacity) { buffer in
            let count = Int(cthreads_allowed_cpus(buffer.baseAddress!, Int32(capacity)))
            return count < 0 ? [] : buffer.prefix(min(count, capacity)).map(Int.init)
        }
    }
}

/// What a worker thread starts with. The pool is not retained: it joins its workers before it goes.
private final class WorkerContext {
    unowned(unsafe) let pool: WorkerThreads
    let index: Int
    let cpu: Int?
    init(pool: WorkerThreads, index: Int, cpu: Int?) { (self.pool, self.index, self.cpu) = (pool, index, cpu) }
}
