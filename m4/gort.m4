dnl gort.m4 - gort's own configure checks.

dnl GORT_CHECK_PLATFORM: gort's entry and context switch are amd64
dnl assembly and its stacks and sleeping use Linux interfaces.
AC_DEFUN([GORT_CHECK_PLATFORM], [
  AC_MSG_CHECKING([for a platform gort supports (x86_64 Linux)])
  case "$host" in
    x86_64-*-linux*) AC_MSG_RESULT([yes, $host]) ;;
    *) AC_MSG_RESULT([no])
       AC_MSG_ERROR([gort runs on x86_64 Linux only (this is $host): its entry and context
  switch are amd64 assembly (asm/amd64) and it relies on Linux futexes and madvise.]) ;;
  esac
])

dnl AX_GORT_PTHREAD: find the flags for POSIX threads.
AC_DEFUN([AX_GORT_PTHREAD], [
  AC_MSG_CHECKING([for POSIX threads with -pthread])
  gort_save_CFLAGS=$CFLAGS
  gort_save_LIBS=$LIBS
  CFLAGS="$CFLAGS -pthread"
  LIBS="$LIBS -pthread"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>
static void *f(void *a) { return a; }]],
    [[pthread_t t; pthread_attr_t a; pthread_create(&t, 0, f, 0);
      pthread_getattr_np(t, &a); pthread_join(t, 0);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([gort needs POSIX threads (pthread_create, pthread_getattr_np)])])
  CFLAGS=$gort_save_CFLAGS
  LIBS=$gort_save_LIBS
  PTHREAD_CFLAGS=-pthread
  PTHREAD_LIBS=-pthread
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
