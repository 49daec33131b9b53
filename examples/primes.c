/*
 * primes.c - the concurrent prime sieve: a chain of goroutines joined by
 * channels, as in Go's classic example.
 *
 * generate sends 2, 3, 4, ... down a channel.  The number that comes out
 * of the end of the chain is the next prime; the main goroutine prints it
 * and appends a filter goroutine for it, which passes on only the numbers
 * that prime does not divide.  After N primes the chain holds N filters.
 *
 * When the main goroutine returns, gort_main returns too: the generator
 * and the filters, still blocked on their channels, are discarded with
 * the runtime, as Go discards goroutines when main returns.
 *
 *   ./primes         the first 100 primes
 *   ./primes 1000    the first 1000
 */
#include <stdio.h>
#include <stdlib.h>

#include <gort.h>

struct filter {
    gort_chan *in, *out;
    long prime;
};

/* Send 2, 3, 4, ... to out, forever. */
static void generate(void *arg)
{
    gort_chan *out = arg;
    for (long i = 2;; i++)
        gort_chan_send(out, &i);
}

/* Copy the values from in to out, except those divisible by prime. */
static void filter(void *arg)
{
    struct filter f = *(struct filter *)arg;
    free(arg);
    long i;
    while (gort_chan_recv(f.in, &i))
        if (i % f.prime != 0)
            gort_chan_send(f.out, &i);
}

static int is_prime(long n)
{
    if (n < 2)
        return 0;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static const char *ordinal(long n)
{
    if (n % 100 >= 11 && n % 100 <= 13)
        return "th";
    switch (n % 10) {
    case 1: return "st";
    case 2: return "nd";
    case 3: return "rd";
    default: return "th";
    }
}

static void sieve(void *arg)
{
    long n = *(long *)arg;
    gort_chan *ch = gort_chan_new(sizeof(long), 0);
    if (!ch || gort_go(generate, ch) < 0) {
        gort_exit_status(1);
        return;
    }
    long prime = 0, expect = 1;
    for (long k = 1; k <= n; k++) {
        if (!gort_chan_recv(ch, &prime)) {
            gort_exit_status(1);
            return;
        }
        printf("%6ld%s", prime, k % 10 == 0 || k == n ? "\n" : " ");

        /* The reference answer, found the slow way. */
        do
            expect++;
        while (!is_prime(expect));
        if (prime != expect) {
            fprintf(stderr, "primes: the %ld%s prime came out as %ld, want %ld\n", k,
                    ordinal(k), prime, expect);
            gort_exit_status(1);
            return;
        }

        struct filter *f = malloc(sizeof *f);
        gort_chan *next = gort_chan_new(sizeof(long), 0);
        if (!f || !next) {
            gort_exit_status(1);
            return;
        }
        *f = (struct filter){.in = ch, .out = next, .prime = prime};
        if (gort_go(filter, f) < 0) {
            gort_exit_status(1);
            return;
        }
        ch = next;
    }
    printf("the %ld%s prime is %ld (checked by trial division); %ld goroutines in the chain\n",
           n, ordinal(n), prime, n + 1);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100;
    if (n < 1) {
        fprintf(stderr, "usage: %s [N]   (print the first N primes, N >= 1)\n", argv[0]);
        return 2;
    }
    return gort_main(argc, argv, sieve, &n);
}
