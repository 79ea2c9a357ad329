/* secret.c - see secret.h. */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

roma_code roma_secret_random(char *out, roma_err *err) {
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[ROMA_SECRET_HEX_LEN / 2];
    size_t got = 0;
    while (got < sizeof(bytes)) {
        ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return roma_fail(err, ROMA_INTERNAL, "cannot draw random bytes (getrandom: %s)",
                             strerror(errno));
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(bytes); i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[ROMA_SECRET_HEX_LEN] = '\0';
    return ROMA_OK;
}

/* Every byte of expected is read and compared, whatever given holds: the
 * time depends on strlen(expected) alone. */
int roma_secret_equal(const char *given, size_t given_len, const char *expected) {
    size_t n = strlen(expected);
    unsigned diff = given_len != n;
    for (size_t i = 0; i < n; i++) {
        unsigned char g = given && i < given_len ? (unsigned char)given[i] : 0;
        diff |= g ^ (unsigned char)expected[i];
    }
    return given != NULL && diff == 0;
}

/* The index of the first byte of text[len] that no secret may hold (a
 * space, a control or non-ASCII byte), or len. */
static size_t first_bad_byte(const char *text, size_t len) {
    size_t i = 0;
    while (i < len && text[i] > ' ' && text[i] <= '~') i++;
    return i;
}

roma_code roma_secret_check(const char *what, const char *text, roma_err *err) {
    size_t len = strlen(text), bad = first_bad_byte(text, len);
    if (len < ROMA_SECRET_MIN_LEN || len > ROMA_SECRET_MAX_LEN)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "%s holds %zu characters; a secret has %d "
                         "to %d (make one with: head -c 32 /dev/urandom | od -An -tx1 | tr -d "
                         "' \\n')", what, len, ROMA_SECRET_MIN_LEN, ROMA_SECRET_MAX_LEN);
    if (bad < len)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "%s: a secret is printable characters "
                         "without spaces or line ends, and byte %zu is not (a Kubernetes Secret "
                         "made from a file keeps the file's last newline: use --from-literal)",
                         what, bad + 1);
    return ROMA_OK;
}

/* The token in text[len]: trailing white space cut, then checked. */
static roma_code take_token(const char *path, const char *text, size_t len, char *out,
                            size_t cap, roma_err *err) {
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
                   text[len - 1] == '\t'))
        len--;
    if (len < ROMA_SECRET_MIN_LEN || len > ROMA_SECRET_MAX_LEN || len >= cap)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "token file '%s' holds %zu characters; a token has %d to %d (write one "
                         "with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > %s)",
                         path, len, ROMA_SECRET_MIN_LEN, ROMA_SECRET_MAX_LEN, path);
    size_t bad = first_bad_byte(text, len);
    if (bad < len)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "token file '%s': the token must be one line of printable "
                         "characters without spaces (byte %zu is not)", path, bad + 1);
    memcpy(out, text, len);
    out[len] = '\0';
    return ROMA_OK;
}

roma_code roma_secret_read_file(const char *path, char *out, size_t cap, int *loose,
                                roma_err *err) {
    char text[ROMA_SECRET_MAX_LEN + 64];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return roma_fail(err, errno == ENOENT ? ROMA_NOT_FOUND : ROMA_PERMISSION_DENIED,
                         "cannot read token file '%s': %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "token file '%s' is not a regular file",
                         path);
    }
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(text) && (n = read(fd, text + len, sizeof(text) - len)) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            roma_code rc = roma_fail(err, ROMA_PERMISSION_DENIED, "cannot read token file '%s': %s",
                                     path, strerror(errno));
            close(fd);
            return rc;
        }
        len += (size_t)n;
    }
    close(fd);
    *loose = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
    return take_token(path, text, len, out, cap, err);
}

/* Creates path with a fresh token; EEXIST when it appeared meanwhile. */
static roma_code create_token_file(const char *path, char *out, size_t cap, roma_err *err) {
    char token[ROMA_SECRET_HEX_LEN + 2];
    if (cap <= ROMA_SECRET_HEX_LEN)
        return roma_fail(err, ROMA_INTERNAL, "token buffer too small");
    roma_code rc = roma_secret_random(token, err);
    if (rc != ROMA_OK) return rc;
    /* O_EXCL: never through a symlink, never over a file someone else made. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return roma_fail(err, errno == EEXIST ? ROMA_ALREADY_EXISTS : ROMA_PERMISSION_DENIED,
                         "cannot create token file '%s': %s (set ops.token_file to a file "
                         "roma serve can read)", path, strerror(errno));
    token[ROMA_SECRET_HEX_LEN] = '\n';
    ssize_t n = write(fd, token, ROMA_SECRET_HEX_LEN + 1);
    int failed = n != ROMA_SECRET_HEX_LEN + 1 || fsync(fd) != 0;
    int e = errno;
    close(fd);
    if (failed) {
        unlink(path);
        return roma_fail(err, ROMA_PERMISSION_DENIED, "cannot write token file '%s': %s", path,
                         strerror(e));
    }
    memcpy(out, token, ROMA_SECRET_HEX_LEN);
    out[ROMA_SECRET_HEX_LEN] = '\0';
    return ROMA_OK;
}

roma_code roma_secret_load_or_create(const char *path, char *out, size_t cap, int *created,
                                     int *loose, roma_err *err) {
    *created = 0;
    *loose = 0;
    roma_code rc = roma_secret_read_file(path, out, cap, loose, err);
    if (rc != ROMA_NOT_FOUND) return rc;
    rc = create_token_file(path, out, cap, err);
    if (rc == ROMA_ALREADY_EXISTS) /* another roma serve made it first: share it */
        return roma_secret_read_file(path, out, cap, loose, err);
    *created = rc == ROMA_OK;
    return rc;
}
