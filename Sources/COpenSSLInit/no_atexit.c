#include <openssl/crypto.h>

/*
 * OpenSSL frees its global locks and tables in an atexit handler. A thread still inside OpenSSL when
 * the process exits (a leaf key generated in the background, a handshake on an event loop) then
 * takes a freed lock and crashes on the way out; ThreadSanitizer caught it as a SEGV in
 * RAND_get_rand_method after a test run. The kernel reclaims the memory at exit anyway, so before
 * main, and so before anything else touches OpenSSL, ask it not to register that handler.
 */
__attribute__((constructor)) static void intercept_proxy_openssl_no_atexit(void) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}
