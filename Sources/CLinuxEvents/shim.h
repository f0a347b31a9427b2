// epoll and eventfd, which Glibc's Swift module does not export: the event loops' poller uses them.
// (No _GNU_SOURCE here: it changes glibc's struct definitions, which other modules share.)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

// Names the calling thread (shown by top -H and perf); at most 15 bytes are kept. prctl is
// variadic, which Swift cannot call.
static inline int shim_name_this_thread(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}
