// epoll and eventfd, which Glibc's Swift module does not export: the event loops' poller uses them.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

// Names the calling thread (shown by top -H and perf); at most 15 bytes are kept.
static inline int shim_name_this_thread(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}
