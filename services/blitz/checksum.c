/* checksum: OMERO's upload checksum algorithms, streaming (see checksum.h). */
#include "checksum.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CK_SHA1, CK_MD5, CK_MUR32, CK_MUR128, CK_CRC32, CK_ADLER, CK_SIZE, CK_N };

static const char *const names[CK_N] = {"SHA1-160", "MD5-128", "Murmur3-32", "Murmur3-128",
                                        "CRC-32", "Adler-32", "File-Size-64"};

struct blz_checksum_t {
    int kind;
    EVP_MD_CTX *md;
    uint64_t total;
    uint32_t crc, adler_a, adler_b;
    uint32_t h32;
    uint64_t h1, h2;
    unsigned char tail[16];     /* murmur: bytes not yet forming a whole block */
    uint32_t crc_table[256];
    size_t ntail;
};

static int
kind_of (const char *name, size_t len)
{
    for (int i = 0; i < CK_N; i++)
        if (strlen (names[i]) == len && strncasecmp (names[i], name, len) == 0)
            return i;
    return -1;
}

int
blz_checksum_known (const char *algorithm)
{
    return algorithm && kind_of (algorithm, strlen (algorithm)) >= 0;
}

/* Whether the comma-separated list holds a name (case-insensitive, spaces ignored). */
static int
list_has (const char *list, const char *name)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ',' || isspace ((unsigned char) *p))
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && isspace ((unsigned char) t[-1]))
            t--;
        if ((size_t) (t - p) == strlen (name) && strncasecmp (p, name, (size_t) (t - p)) == 0)
            return 1;
        p = e;
    }
    return 0;
}

const char *
blz_checksum_negotiate (const char *client, const char *supported)
{
    const char *p = supported && *supported ? supported : "SHA1-160";
    while (*p) {
        while (*p == ',' || isspace ((unsigned char) *p))
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && isspace ((unsigned char) t[-1]))
            t--;
        int k = t > p ? kind_of (p, (size_t) (t - p)) : -1;
        if (k >= 0 && (!client || list_has (client, names[k])))
            return names[k];
        p = e;
    }
    return NULL;
}

/* The CRC-32 (IEEE, reflected) table, built per hasher: 1 KiB and a few microseconds, and no
 * process-wide state. */
static void
crc_init (uint32_t table[256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

blz_checksum_t *
blz_checksum_new (const char *algorithm, omr_err_t *err)
{
    int k = algorithm ? kind_of (algorithm, strlen (algorithm)) : -1;
    if (k < 0) {
        omr_err_set (err, OMR_E_API, 400, "unknown checksum algorithm '%s' (known: SHA1-160, MD5-128, "
                     "Murmur3-32, Murmur3-128, CRC-32, Adler-32, File-Size-64)", algorithm ? algorithm : "");
        return NULL;
    }
    blz_checksum_t *c = calloc (1, sizeof *c);
    if (!c) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        return NULL;
    }
    c->kind = k;
    c->crc = 0xFFFFFFFFu;
    c->adler_a = 1;
    if (k == CK_SHA1 || k == CK_MD5) {
        c->md = EVP_MD_CTX_new ();
        if (!c->md || EVP_DigestInit_ex (c->md, k == CK_SHA1 ? EVP_sha1 () : EVP_md5 (), NULL) != 1) {
            EVP_MD_CTX_free (c->md);
            free (c);
            omr_err_set (err, OMR_E_INTERNAL, 500, "cannot start %s", names[k]);
            return NULL;
        }
    }
    if (k == CK_CRC32)
        crc_init (c->crc_table);
    return c;
}

static inline uint32_t
rotl32 (uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static inline uint64_t
rotl64 (uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t
le64 (const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint32_t
le32 (const unsigned char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

#define M128_C1 0x87c37b91114253d5ULL
#define M128_C2 0x4cf5ad432745937fULL

static void
mur128_block (blz_checksum_t *c, const unsigned char *b)
{
    uint64_t k1 = le64 (b), k2 = le64 (b + 8);
    k1 *= M128_C1; k1 = rotl64 (k1, 31); k1 *= M128_C2; c->h1 ^= k1;
    c->h1 = rotl64 (c->h1, 27); c->h1 += c->h2; c->h1 = c->h1 * 5 + 0x52dce729;
    k2 *= M128_C2; k2 = rotl64 (k2, 33); k2 *= M128_C1; c->h2 ^= k2;
    c->h2 = rotl64 (c->h2, 31); c->h2 += c->h1; c->h2 = c->h2 * 5 + 0x38495ab5;
}

static void
mur32_block (blz_checksum_t *c, const unsigned char *b)
{
    uint32_t k = le32 (b);
    k *= 0xcc9e2d51u; k = rotl32 (k, 15); k *= 0x1b873593u;
    c->h32 ^= k; c->h32 = rotl32 (c->h32, 13); c->h32 = c->h32 * 5 + 0xe6546b64u;
}

void
blz_checksum_update (blz_checksum_t *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    c->total += len;
    switch (c->kind) {
    case CK_SHA1:
    case CK_MD5:
        EVP_DigestUpdate (c->md, p, len);
        break;
    case CK_CRC32:
        for (size_t i = 0; i < len; i++)
            c->crc = c->crc_table[(c->crc ^ p[i]) & 0xFF] ^ (c->crc >> 8);
        break;
    case CK_ADLER: {
        uint32_t a = c->adler_a, b = c->adler_b;
        while (len) {
            size_t n = len < 5552 ? len : 5552;     /* no overflow before the modulo */
            for (size_t i = 0; i < n; i++) {
                a += p[i];
                b += a;
            }
            a %= 65521;
            b %= 65521;
            p += n;
            len -= n;
        }
        c->adler_a = a;
        c->adler_b = b;
        break;
    }
    case CK_MUR32:
    case CK_MUR128: {
        size_t bs = c->kind == CK_MUR32 ? 4 : 16;
        while (len) {
            if (c->ntail == 0 && len >= bs) {
                if (bs == 4)
                    mur32_block (c, p);
                else
                    mur128_block (c, p);
                p += bs;
                len -= bs;
                continue;
            }
            size_t n = bs - c->ntail < len ? bs - c->ntail : len;
            memcpy (c->tail + c->ntail, p, n);
            c->ntail += n;
            p += n;
            len -= n;
            if (c->ntail == bs) {
                if (bs == 4)
                    mur32_block (c, c->tail);
                else
                    mur128_block (c, c->tail);
                c->ntail = 0;
            }
        }
        break;
    }
    default:
        break;
    }
}

static uint64_t
fmix64 (uint64_t k)
{
    k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53ULL; k ^= k >> 33;
    return k;
}

static void
hex_le (uint64_t v, int nbytes, char *out)
{
    for (int i = 0; i < nbytes; i++)
        sprintf (out + 2 * i, "%02x", (unsigned) ((v >> (8 * i)) & 0xFF));
}

void
blz_checksum_final (blz_checksum_t **self, char out[65])
{
    blz_checksum_t *c = *self;
    out[0] = '\0';
    if (!c)
        return;
    switch (c->kind) {
    case CK_SHA1:
    case CK_MD5: {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        EVP_DigestFinal_ex (c->md, md, &n);
        for (unsigned i = 0; i < n && i < 32; i++)
            sprintf (out + 2 * i, "%02x", md[i]);
        EVP_MD_CTX_free (c->md);
        break;
    }
    case CK_CRC32:
        hex_le (c->crc ^ 0xFFFFFFFFu, 4, out);
        break;
    case CK_ADLER:
        hex_le ((c->adler_b << 16) | c->adler_a, 4, out);
        break;
    case CK_SIZE:
        hex_le (c->total, 8, out);
        break;
    case CK_MUR32: {
        uint32_t k = 0;
        for (size_t i = c->ntail; i > 0; i--)
            k = (k << 8) | c->tail[i - 1];
        if (c->ntail) {
            k *= 0xcc9e2d51u; k = rotl32 (k, 15); k *= 0x1b873593u; c->h32 ^= k;
        }
        uint32_t h = c->h32 ^ (uint32_t) c->total;
        h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
        hex_le (h, 4, out);
        break;
    }
    case CK_MUR128: {
        uint64_t k1 = 0, k2 = 0;
        for (size_t i = c->ntail; i > 8; i--)
            k2 = (k2 << 8) | c->tail[i - 1];
        for (size_t i = c->ntail < 8 ? c->ntail : 8; i > 0; i--)
            k1 = (k1 << 8) | c->tail[i - 1];
        if (c->ntail > 8) {
            k2 *= M128_C2; k2 = rotl64 (k2, 33); k2 *= M128_C1; c->h2 ^= k2;
        }
        if (c->ntail) {
            k1 *= M128_C1; k1 = rotl64 (k1, 31); k1 *= M128_C2; c->h1 ^= k1;
        }
        c->h1 ^= c->total; c->h2 ^= c->total;
        c->h1 += c->h2; c->h2 += c->h1;
        c->h1 = fmix64 (c->h1); c->h2 = fmix64 (c->h2);
        c->h1 += c->h2; c->h2 += c->h1;
        hex_le (c->h1, 8, out);
        hex_le (c->h2, 8, out + 16);
        break;
    }
    default:
        break;
    }
    free (c);
    *self = NULL;
}

int
blz_checksum_file (const char *algorithm, const char *path, char out[65], omr_err_t *err)
{
    blz_checksum_t *c = blz_checksum_new (algorithm, err);
    if (!c)
        return -1;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char dummy[65];
        blz_checksum_final (&c, dummy);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "%s: %s", path, strerror (errno));
    }
    size_t cap = 1 << 20;
    unsigned char *buf = malloc (cap);
    ssize_t n = 0;
    while (buf && (n = read (fd, buf, cap)) > 0)
        blz_checksum_update (c, buf, (size_t) n);
    int e = errno;
    close (fd);
    free (buf);
    blz_checksum_final (&c, out);
    if (n < 0 || !buf)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "%s: %s", path, buf ? strerror (e) : "out of memory");
    return 0;
}
