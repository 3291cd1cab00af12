#define _GNU_SOURCE
#include "cthreads.h"

#include <sched.h>

#ifdef __linux__
#include <pthread.h>

int cthreads_pin_to_cpu(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int cthreads_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        if (count < capacity) cpus[count] = cpu;
        count++;
    }
    return count;
}
#else
int cthreads_pin_to_cpu(int cpu) { return -1; }
int cthreads_allowed_cpus(int *cpus, int capacity) { return -1; }
#endif

void cthreads_yield(void) { sched_yield(); }

long cthreads_load(const long *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }

void cthreads_store(long *word, long value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }

long cthreads_add(long *word, long delta) { return __atomic_add_fetch(word, delta, __ATOMIC_SEQ_CST); }

long cthreads_spin_while_equal(const long *word, long seen, long spins) {
    long now = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    for (long i = 0; i < spins && now == seen; i++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
        now = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    }
    return now;
}
