/* gdb_prog.c - a program for tests/gdb.sh: two goroutines parked three
 * frames deep in a channel receive, main stopped in stop_here(). */
#include <gort.h>
#include <stdio.h>
static gort_chan *c;
static volatile int sink;   /* work after each call: no tail calls to fold frames */
__attribute__((noinline)) void deep_wait(int n) { if (n) deep_wait(n - 1); else gort_chan_recv(c, NULL); sink++; }
__attribute__((noinline)) static void waiter(void *a) { (void)a; deep_wait(3); sink++; }
__attribute__((noinline)) void stop_here(void) { __asm__ volatile(""); }
static void m(void *a) {
    (void)a;
    c = gort_chan_new(0,0); gort_go(waiter, 0); gort_go(waiter, 0); stop_here(); gort_chan_close(c); gort_sleep(1000000); }
int main(int ac, char **av) { return gort_main(ac, av, m, 0); }
