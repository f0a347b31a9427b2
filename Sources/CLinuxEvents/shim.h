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

// unshare(2), whose declaration glibc keeps behind _GNU_SOURCE: moves the calling thread to a new
// network namespace (verify --transparent). 0x40000000 is CLONE_NEWNET.
extern int unshare(int flags);
static inline int shim_unshare_network(void) {
    return unshare(0x40000000);
}

// memmem(3), also behind _GNU_SOURCE: explain searches a pasted log of up to 1 MiB for some
// thousands of needles, and glibc's memmem is several times faster than memchr-then-memcmp.
#include <stddef.h>
extern void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
static inline const void *shim_memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen) {
    return memmem(haystack, haystacklen, needle, needlelen);
}
