#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "ckernels.h"

// A persistent pool for the many short products of a dream step. Worker w runs chunk w of a job (the caller runs
// chunk 0), so no chunk can run twice and the caller waits only for the workers the job needs. Idle workers spin
// briefly (the next product usually follows within microseconds), then sleep on a futex.

// Spins before sleeping: well under a millisecond of pause instructions, longer than the gaps a dream step leaves
// between its parallel parts (its serial softmax, records and top-k), so a step rarely pays a futex wake.
#define SPINS 40000

static struct {
    int workers;                  // threads besides the caller
    _Atomic uint64_t job;         // (sequence << 16) | chunks; a worker wakes when it changes
    _Atomic int done;             // workers that finished the current job
    _Atomic int sleepers;         // workers asleep (or about to be) on futexWord
    _Atomic uint32_t futexWord;   // bumped to wake sleepers
    dl_task fn;
    void *ctx;
    uint64_t sequence;
    atomic_flag busy;             // one job at a time; a nested or concurrent caller runs its chunks inline
} pool = { .busy = ATOMIC_FLAG_INIT };

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int requested;

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

static void *worker(void *arg) {
    int index = (int)(intptr_t)arg;
    uint64_t seen = 0;
    for (;;) {
        uint64_t job;
        int spins = 0;
        while ((job = atomic_load_explicit(&pool.job, memory_order_acquire)) == seen) {
            if (++spins < SPINS) { cpu_relax(); continue; }
            atomic_fetch_add(&pool.sleepers, 1);
            uint32_t word = atomic_load(&pool.futexWord);
            // Re-checked after announcing the sleep: the caller reads `sleepers` after publishing a job.
            if (atomic_load(&pool.job) == seen) syscall(SYS_futex, &pool.futexWord, FUTEX_WAIT_PRIVATE, word, NULL, NULL, 0);
            atomic_fetch_sub(&pool.sleepers, 1);
            spins = 0;
        }
        seen = job;
        if (index < (int)(job & 0xffff)) {
            pool.fn(pool.ctx, index);
            atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        }
    }
    return NULL;
}

static void start_workers(void) {
    int n = requested - 1;
    for (int i = 1; i <= n; i++) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 8 << 20);
        if (pthread_create(&t, &attr, worker, (void *)(intptr_t)i) != 0) { pthread_attr_destroy(&attr); break; }
        pthread_attr_destroy(&attr);
        pthread_detach(t);
        pool.workers = i;
    }
}

void dl_pool_start(int threads) {
    requested = threads < 1 ? 1 : (threads > 0xffff ? 0xffff : threads);
    pthread_once(&once, start_workers);
}

int dl_pool_workers(void) { return pool.workers; }

int dl_pool_run(int chunks, dl_task fn, void *ctx) {
    if (chunks <= 1 || pool.workers == 0 || atomic_flag_test_and_set(&pool.busy)) {
        for (int i = 0; i < chunks; i++) fn(ctx, i);
        return 1;
    }
    int shared = chunks < pool.workers + 1 ? chunks : pool.workers + 1;
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store(&pool.done, 0);
    pool.sequence++;
    atomic_store_explicit(&pool.job, (pool.sequence << 16) | (uint64_t)shared, memory_order_seq_cst);
    if (atomic_load(&pool.sleepers) > 0) {
        atomic_fetch_add(&pool.futexWord, 1);
        syscall(SYS_futex, &pool.futexWord, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
    fn(ctx, 0);
    for (int i = shared; i < chunks; i++) fn(ctx, i);   // more chunks than threads: the caller runs the rest
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < shared - 1) cpu_relax();
    atomic_flag_clear(&pool.busy);
    return shared;
}
