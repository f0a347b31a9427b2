#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
/*
 * OpenSSL headers plus static inline wrappers for what Swift cannot import:
 * function-like macros and variadic functions. Nothing else belongs here.
 */
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

/* EVP_RSA_gen / EVP_EC_gen are macros over the variadic EVP_PKEY_Q_keygen. */
static inline EVP_PKEY *shim_EVP_RSA_gen(unsigned int bits) {
    return EVP_RSA_gen(bits);
}

static inline EVP_PKEY *shim_EVP_EC_gen(const char *curve) {
    return EVP_EC_gen(curve);
}

/*
 * A legacy (non-provider) copy of an RSA or EC key. OpenSSL 3.0 puts a provider key into a
 * certificate through an encoder and a decoder, about 80% of a P-256 forge; a legacy key takes
 * the direct ASN.1 path. Only the deprecated API builds one, and Swift would warn on each use.
 */
static inline EVP_PKEY *shim_legacy_copy_of_key(EVP_PKEY *pkey) {
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    EVP_PKEY *copy = EVP_PKEY_new();
    int ok = 0;
    if (copy != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
        RSA *rsa = EVP_PKEY_get1_RSA(pkey);
        ok = rsa != NULL && EVP_PKEY_assign_RSA(copy, rsa);
        if (!ok) RSA_free(rsa);
    } else if (copy != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC) {
        EC_KEY *ec = EVP_PKEY_get1_EC_KEY(pkey);
        ok = ec != NULL && EVP_PKEY_assign_EC_KEY(copy, ec);
        if (!ok) EC_KEY_free(ec);
    }
#pragma clang diagnostic pop
    if (!ok) {
        EVP_PKEY_free(copy);
        return NULL;
    }
    return copy;
}

/* BIO_get_mem_data is a macro over BIO_ctrl. */
static inline long shim_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

/* OPENSSL_free is a macro that records the call site. */
static inline void shim_OPENSSL_free(void *ptr) {
    OPENSSL_free(ptr);
}

/* The typed STACK_OF(X509) helpers are macros in OpenSSL 3. */
static inline STACK_OF(X509) *shim_sk_X509_new_null(void) {
    return sk_X509_new_null();
}

static inline int shim_sk_X509_push(STACK_OF(X509) *stack, X509 *cert) {
    return sk_X509_push(stack, cert);
}

static inline void shim_sk_X509_free(STACK_OF(X509) *stack) {
    sk_X509_free(stack);
}

static inline int shim_sk_X509_num(const STACK_OF(X509) *stack) {
    return sk_X509_num(stack);
}

static inline X509 *shim_sk_X509_value(const STACK_OF(X509) *stack, int index) {
    return sk_X509_value(stack, index);
}

static inline STACK_OF(PKCS12_SAFEBAG) *shim_sk_PKCS12_SAFEBAG_new_null(void) {
    return sk_PKCS12_SAFEBAG_new_null();
}

static inline void shim_sk_PKCS12_SAFEBAG_pop_free(STACK_OF(PKCS12_SAFEBAG) *stack) {
    sk_PKCS12_SAFEBAG_pop_free(stack, PKCS12_SAFEBAG_free);
}

static inline void shim_sk_PKCS7_pop_free(STACK_OF(PKCS7) *stack) {
    sk_PKCS7_pop_free(stack, PKCS7_free);
}

/* SSL/SSL_CTX controls that are macros over SSL_ctrl / SSL_CTX_ctrl. */
static inline int shim_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline long shim_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

/* SSL_OP_NO_RENEGOTIATION is built with a function-like macro (SSL_OP_BIT). */
static inline void shim_SSL_CTX_disable_renegotiation(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
}

static inline int shim_SSL_add1_chain_cert(SSL *ssl, X509 *cert) {
    return (int)SSL_add1_chain_cert(ssl, cert);
}

static inline int shim_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

#endif
