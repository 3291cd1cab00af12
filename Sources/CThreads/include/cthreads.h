#ifndef CTHREADS_H
#define CTHREADS_H

// The Linux scheduler calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module leaves out.
// Elsewhere they do nothing: pinning is a hint, and the CPU list comes back empty.

/// Pins the calling thread to one CPU; 0 on success.
int cthreads_pin_to_cpu(int cpu);

/// Writes the CPUs this process may run on, in order, into cpus (at most capacity of them); returns how many
/// there are (possibly more than capacity), or -1 when the system does not say.
int cthreads_allowed_cpus(int *cpus, int capacity);

// Atomic words for the workers' hand-off: a job number they watch, spinning a while before they sleep, and a
// count of workers still on the job.

/// The word's value, read with acquire ordering.
long cthreads_load(const long *word);
/// Stores with release ordering.
void cthreads_store(long *word, long value);
/// Adds delta and returns the new value (sequentially consistent).
long cthreads_add(long *word, long delta);
/// Spins up to `spins` times, pausing between reads, while *word == seen; returns the last value read.
long cthreads_spin_while_equal(const long *word, long seen, long spins);
/// Gives the CPU to another runnable thread, if there is one.
void cthreads_yield(void);

#endif
