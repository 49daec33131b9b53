/*
 * gort/common.h - shared by every public gort header.
 *
 * gort is built with -fvisibility=hidden: nothing is exported from the
 * shared library unless it is marked GORT_API.  Keep it that way; an
 * internal function that leaks into the dynamic symbol table becomes ABI.
 */
#ifndef GORT_COMMON_H
#define GORT_COMMON_H

#if defined(__GNUC__)
#define GORT_API __attribute__((visibility("default")))
#else
#define GORT_API
#endif

#endif
