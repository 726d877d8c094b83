/* password: PBKDF2-HMAC-SHA256 (default) and scrypt password hashes from OpenSSL, stored in a
 * self-describing string, verified in constant time. */
#include "password.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LEN 16
#define KEY_LEN 32

/* Standard base64 of n bytes into out (which must hold 4*ceil(n/3)+1). */
static void
b64_encode (const unsigned char *in, int n, char *out)
{
    EVP_EncodeBlock ((unsigned char *) out, in, n);
}

/* Decode standard base64; returns the number of bytes or -1. */
static int
b64_decode (const char *in, unsigned char *out, int max)
{
    int len = (int) strlen (in);
    if (len == 0 || len % 4 != 0 || (len / 4) * 3 > max + 2)
        return -1;
    unsigned char buf[128];
    if ((len / 4) * 3 > (int) sizeof buf)
        return -1;
    int n = EVP_DecodeBlock (buf, (const unsigned char *) in, len);
    if (n < 0)
        return -1;
    if (len >= 1 && in[len - 1] == '=')
        n--;
    if (len >= 2 && in[len - 2] == '=')
        n--;
    if (n > max)
        return -1;
    memcpy (out, buf, n);
    return n;
}

static int
pbkdf2 (const char *pw, const unsigned char *salt, int saltlen, int iter, unsigned char *key, int keylen)
{
    return PKCS5_PBKDF2_HMAC (pw, (int) strlen (pw), salt, saltlen, iter, EVP_sha256 (), keylen, key) == 1 ? 0 : -1;
}

static int
scrypt (const char *pw, const unsigned char *salt, int saltlen, int ln, int r, int p, unsigned char *key,
        int keylen)
{
    uint64_t N = (uint64_t) 1 << ln;
    uint64_t maxmem = 128 * N * (uint64_t) r * (uint64_t) p + (1u << 20) + 1024 * 1024 * 32;
    return EVP_PBE_scrypt (pw, strlen (pw), salt, saltlen, N, r, p, maxmem, key, keylen) == 1 ? 0 : -1;
}

int
blz_password_hash (const char *password, int iterations, char out[BLZ_PASSWORD_MAX], omr_err_t *err)
{
    if (!password)
        return omr_err_set (err, OMR_E_API, 400, "no password given");
    if (iterations <= 0)
        iterations = BLZ_PBKDF2_ITERATIONS;
    unsigned char salt[SALT_LEN], key[KEY_LEN];
    if (RAND_bytes (salt, sizeof salt) != 1)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "the system random generator failed");
    if (pbkdf2 (password, salt, sizeof salt, iterations, key, sizeof key) < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "PBKDF2 failed");
    char s64[64], k64[64];
    b64_encode (salt, sizeof salt, s64);
    b64_encode (key, sizeof key, k64);
    snprintf (out, BLZ_PASSWORD_MAX, "$pbkdf2-sha256$i=%d$%s$%s", iterations, s64, k64);
    OPENSSL_cleanse (key, sizeof key);
    return 0;
}

int
blz_password_hash_scrypt (const char *password, int ln, int r, int p, char out[BLZ_PASSWORD_MAX], omr_err_t *err)
{
    if (!password)
        return omr_err_set (err, OMR_E_API, 400, "no password given");
    if (ln < 10 || ln > 22 || r < 1 || r > 32 || p < 1 || p > 16)
        return omr_err_set (err, OMR_E_CONFIG, 400, "scrypt parameters out of range (ln 10..22, r 1..32, p 1..16)");
    unsigned char salt[SALT_LEN], key[KEY_LEN];
    if (RAND_bytes (salt, sizeof salt) != 1)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "the system random generator failed");
    if (scrypt (password, salt, sizeof salt, ln, r, p, key, sizeof key) < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "scrypt failed");
    char s64[64], k64[64];
    b64_encode (salt, sizeof salt, s64);
    b64_encode (key, sizeof key, k64);
    snprintf (out, BLZ_PASSWORD_MAX, "$scrypt$ln=%d,r=%d,p=%d$%s$%s", ln, r, p, s64, k64);
    OPENSSL_cleanse (key, sizeof key);
    return 0;
}

/* Split "$scheme$params$salt$hash" into its four parts (copied into fixed buffers). */
static int
split (const char *stored, char scheme[32], char params[64], char salt[64], char hash[64])
{
    if (!stored || stored[0] != '$')
        return -1;
    char buf[BLZ_PASSWORD_MAX];
    if (strlen (stored) >= sizeof buf)
        return -1;
    strcpy (buf, stored + 1);
    char *parts[4];
    char *save = NULL, *tok = strtok_r (buf, "$", &save);
    int n = 0;
    while (tok && n < 4) {
        parts[n++] = tok;
        tok = strtok_r (NULL, "$", &save);
    }
    if (n != 4 || tok)
        return -1;
    if (strlen (parts[0]) >= 32 || strlen (parts[1]) >= 64 || strlen (parts[2]) >= 64 || strlen (parts[3]) >= 64)
        return -1;
    strcpy (scheme, parts[0]);
    strcpy (params, parts[1]);
    strcpy (salt, parts[2]);
    strcpy (hash, parts[3]);
    return 0;
}

bool
blz_password_is_hash (const char *stored)
{
    char scheme[32], params[64], salt[64], hash[64];
    if (split (stored, scheme, params, salt, hash) < 0)
        return false;
    return strcmp (scheme, "pbkdf2-sha256") == 0 || strcmp (scheme, "scrypt") == 0;
}

bool
blz_password_verify (const char *password, const char *stored, int burn_iterations)
{
    static const unsigned char dummy_salt[SALT_LEN] = "omero-no-user!!";
    unsigned char key[KEY_LEN], want[KEY_LEN + 4], salt[SALT_LEN + 16];
    char scheme[32], params[64], s64[64], h64[64];
    const char *pw = password ? password : "";
    bool ok = false;
    int saltlen, wantlen;
    if (split (stored, scheme, params, s64, h64) < 0 || (saltlen = b64_decode (s64, salt, sizeof salt)) <= 0
        || (wantlen = b64_decode (h64, want, sizeof want)) != KEY_LEN)
        goto burn;
    if (strcmp (scheme, "pbkdf2-sha256") == 0) {
        int iter = 0;
        if (sscanf (params, "i=%d", &iter) != 1 || iter < 1000 || iter > 10000000)
            goto burn;
        if (pbkdf2 (pw, salt, saltlen, iter, key, KEY_LEN) < 0)
            goto burn;
    }
    else if (strcmp (scheme, "scrypt") == 0) {
        int ln = 0, r = 0, p = 0;
        if (sscanf (params, "ln=%d,r=%d,p=%d", &ln, &r, &p) != 3 || ln < 10 || ln > 22 || r < 1 || r > 32
            || p < 1 || p > 16)
            goto burn;
        if (scrypt (pw, salt, saltlen, ln, r, p, key, KEY_LEN) < 0)
            goto burn;
    }
    else
        goto burn;
    ok = CRYPTO_memcmp (key, want, KEY_LEN) == 0;
    OPENSSL_cleanse (key, sizeof key);
    return ok && password != NULL;
burn:
    /* Same work as a real check so that "no such user" and "wrong password" take equally long. */
    pbkdf2 (pw, dummy_salt, SALT_LEN, burn_iterations > 0 ? burn_iterations : BLZ_PBKDF2_ITERATIONS, key, KEY_LEN);
    OPENSSL_cleanse (key, sizeof key);
    return false;
}

int
blz_password_random (char *out, size_t len, omr_err_t *err)
{
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    if (len < 2)
        return omr_err_set (err, OMR_E_API, 400, "password buffer too small");
    unsigned char rnd[256];
    size_t n = len - 1 < sizeof rnd ? len - 1 : sizeof rnd;
    if (RAND_bytes (rnd, (int) n) != 1)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "the system random generator failed");
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
    out[n] = 0;
    return 0;
}
