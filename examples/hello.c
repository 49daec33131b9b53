/*
 * hello.c - the smallest gort program: a main goroutine that starts a few
 * workers, which take turns with gort_yield.
 *
 *   cc hello.c $(pkg-config --cflags --libs gort) -o hello && ./hello
 */
#include <stdatomic.h>
#include <stdio.h>

#include <gort.h>

#define WORKERS 3
#define ROUNDS 3

/* Atomic: the workers may run on different threads (one per processor),
 * and main reads it while they run. */
static atomic_int finished;

static void worker(void *arg)
{
    const char *name = arg;
    for (int i = 0; i < ROUNDS; i++) {
        printf("goroutine %lld (%s): round %d\n", (long long)gort_id(), name, i);
        gort_yield();
    }
    finished++;
}

static void main_goroutine(void *arg)
{
    static const char *names[WORKERS] = {"alpha", "beta", "gamma"};
    (void)arg;
    printf("main goroutine %lld; AVX2 %s\n", (long long)gort_id(),
           gort_cpu_has(GORT_CPU_FEATURE_AVX2) ? "available" : "not available");
    for (int i = 0; i < WORKERS; i++)
        gort_go(worker, (void *)names[i]);
    while (finished < WORKERS)
        gort_yield();
    printf("all %d workers done\n", WORKERS);
    gort_exit_status(0);
}

int main(int argc, char **argv)
{
    return gort_main(argc, argv, main_goroutine, NULL);
}
