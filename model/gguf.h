/* SPDX-License-Identifier: MIT */
/*
 * gguf.h: read and write GGUF files (versions 2 and 3, little-endian). The reader maps the file
 * read-only and validates every count, length, offset and size against the file size before it
 * hands anything out, so a hostile or truncated file gives an error sentence, never a crash.
 * Metadata values and tensor data are used in place: strings and tensor data point into the
 * mapping and live until owb_gguf_close(). The writer collects metadata and borrowed tensor data
 * and writes the file atomically (temporary file in the same folder, then rename).
 *
 * Ownership: owb_gguf_open*() returns a heap object freed by owb_gguf_close(); every pointer
 * obtained from it (keys, values, tensors, names, data) is owned by it. A writer is freed by
 * owb_gguf_writer_free(); tensor data passed to it is borrowed until owb_gguf_writer_write().
 * Thread-safety: a reader is immutable after open and may be queried from any number of threads;
 * a writer must be used by one thread at a time.
 */
#ifndef OWB_MODEL_GGUF_H
#define OWB_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/formats.h"
#include "owb_common.h"

/* Metadata value types, numbered as in the GGUF specification. */
enum owb_gguf_type {
    OWB_GGUF_UINT8 = 0,
    OWB_GGUF_INT8 = 1,
    OWB_GGUF_UINT16 = 2,
    OWB_GGUF_INT16 = 3,
    OWB_GGUF_UINT32 = 4,
    OWB_GGUF_INT32 = 5,
    OWB_GGUF_FLOAT32 = 6,
    OWB_GGUF_BOOL = 7,
    OWB_GGUF_STRING = 8,
    OWB_GGUF_ARRAY = 9,
    OWB_GGUF_UINT64 = 10,
    OWB_GGUF_INT64 = 11,
    OWB_GGUF_FLOAT64 = 12,
    OWB_GGUF_TYPE_COUNT = 13,
};

#define OWB_GGUF_DEFAULT_ALIGNMENT 32
#define OWB_GGUF_MAX_DIMS 4
/* Arrays of arrays are accepted up to this depth (deeper files are rejected, not recursed). */
#define OWB_GGUF_MAX_NESTING 8

/* A string inside the mapping: `len` bytes at `ptr`, not NUL-terminated, may contain any byte. */
struct owb_gguf_str {
    const char *ptr;
    uint64_t len;
};

/* One metadata value. Scalars are decoded: unsigned types into u, signed into i, float32/64 into
 * f, bool into b. Arrays keep their raw little-endian elements (`raw`, n elements of elem_type);
 * arrays of strings or arrays also have `elems`, one decoded value per element. */
struct owb_gguf_value {
    enum owb_gguf_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        bool b;
        struct owb_gguf_str s;
        struct {
            enum owb_gguf_type elem_type;
            uint64_t n;
            const unsigned char *raw;
            struct owb_gguf_value *elems; /* NULL for fixed-size element types */
        } arr;
    } v;
};

struct owb_gguf_kv {
    const char *key; /* NUL-terminated copy of the key */
    struct owb_gguf_value value;
};

struct owb_gguf_tensor {
    const char *name; /* NUL-terminated copy of the name */
    enum owb_type type;
    int n_dims;                    /* 1..4 (0 for a scalar) */
    int64_t ne[OWB_GGUF_MAX_DIMS]; /* elements per dimension, ne[0] fastest; unused dims are 1 */
    uint64_t offset;               /* offset of the data from the start of the data section */
    size_t size_bytes;             /* bytes of data */
    int64_t n_elements;
    const void *data; /* into the mapping (aligned to the file's alignment) */
    int wlayout; /* enum owb_wlayout (kernels/matmul.h) of the data in memory: 0 as in the file;
                    another after a loader converted an owned copy (owb_gguf_set_wlayout) */
};

struct owb_gguf {
    const char *path;   /* the name used in error messages */
    uint32_t version;   /* 2 or 3 */
    uint32_t alignment; /* general.alignment or 32 */
    size_t file_size;
    size_t data_offset; /* start of the tensor data section in the file */
    int64_t n_kv;
    struct owb_gguf_kv *kv;
    int64_t n_tensors;
    struct owb_gguf_tensor *tensors;
    bool owned; /* the tensor data is this process's anonymous copy (OWB_GGUF_MEM_COPY): a
                   loader may rewrite it in place between owb_gguf_writable(g, true) and (false) */
    /* private */
    const unsigned char *base;
    void *map; /* munmap'ed on close; NULL for owb_gguf_open_mem */
    void *priv;
};

/* Map and parse `path`. Returns NULL and fills err ("PATH: reason") on any I/O or format error. */
struct owb_gguf *owb_gguf_open(const char *path, char err[OWB_ERR_MAX]);

/* Where the weights of a file opened to run a model live (owb_gguf_open_weights).
 * MMAP: a read-only private mapping of the file (page cache, 4 KiB pages; llama.cpp's default).
 * COPY: anonymous memory advised MADV_HUGEPAGE, filled with pread in 64 MiB chunks, each chunk
 * dropped from the page cache once copied (POSIX_FADV_DONTNEED), so the copy needs the file's size
 * once, not twice. A decode streams every weight each token: on 2 MiB pages the hardware
 * prefetchers and the TLB are not cut off every 4 KiB (gpt-oss-20b decode, 2 threads, three
 * same-session comparisons: +3% to +13%; prefill within its noise; docs/perf-notes.md). AUTO:
 * COPY when the file fits in 80% of MemAvailable
 * (/proc/meminfo) with 1 GiB to spare, else MMAP. */
enum owb_gguf_mem { OWB_GGUF_MEM_AUTO = 0, OWB_GGUF_MEM_MMAP, OWB_GGUF_MEM_COPY };

/* "auto", "mmap", "copy" -> mode; -1 for anything else. */
int owb_gguf_mem_parse(const char *s);
const char *owb_gguf_mem_name(enum owb_gguf_mem m);

/* owb_gguf_open with the weights placed as `mem` says (AUTO resolved here). *used (optional)
 * receives the mode that was used; *huge_bytes (optional) the bytes of the copy that the kernel
 * backed with huge pages (AnonHugePages of the mapping in /proc/self/smaps; 0 for MMAP or when
 * unreadable). A failed anonymous allocation under AUTO falls back to MMAP; under COPY it is an
 * error. */
struct owb_gguf *owb_gguf_open_weights(const char *path, enum owb_gguf_mem mem,
                                       enum owb_gguf_mem *used, size_t *huge_bytes,
                                       char err[OWB_ERR_MAX]);
/* Parse a GGUF image already in memory (not copied; must outlive the result). `name` is used in
 * messages. Tensor data is aligned only as far as `data` is. */
struct owb_gguf *owb_gguf_open_mem(const void *data, size_t size, const char *name,
                                   char err[OWB_ERR_MAX]);
/* Make an owned copy's pages writable (true) or read-only again (false). OWB_E_UNSUPPORTED for a
 * file mapping or a caller's image (never written). */
int owb_gguf_writable(const struct owb_gguf *g, bool writable, char err[OWB_ERR_MAX]);
/* Record that tensor t of g (an owned copy) now holds its data in layout wl, so that a later load
 * from the same open file binds it as such instead of converting it again. */
void owb_gguf_set_wlayout(const struct owb_gguf *g, const struct owb_gguf_tensor *t, int wl);
/* Unmap and free; NULL is a no-op. */
void owb_gguf_close(struct owb_gguf *g);

/* Name of a value type ("uint32", "string", ...), "?" when out of range. */
const char *owb_gguf_type_name(enum owb_gguf_type t);

/* Metadata lookup by exact key; NULL when absent. */
const struct owb_gguf_kv *owb_gguf_find(const struct owb_gguf *g, const char *key);

/* Typed getters. Return 0 and set *out, or OWB_E_FORMAT with err naming the key when the key is
 * absent or its value has another type or does not fit. Integer getters accept any integer type
 * whose value fits; get_f32 accepts float32 and float64; get_bool only bool. */
int owb_gguf_get_u32(const struct owb_gguf *g, const char *key, uint32_t *out,
                     char err[OWB_ERR_MAX]);
int owb_gguf_get_i32(const struct owb_gguf *g, const char *key, int32_t *out,
                     char err[OWB_ERR_MAX]);
int owb_gguf_get_u64(const struct owb_gguf *g, const char *key, uint64_t *out,
                     char err[OWB_ERR_MAX]);
int owb_gguf_get_f32(const struct owb_gguf *g, const char *key, float *out, char err[OWB_ERR_MAX]);
int owb_gguf_get_bool(const struct owb_gguf *g, const char *key, bool *out, char err[OWB_ERR_MAX]);
int owb_gguf_get_str(const struct owb_gguf *g, const char *key, struct owb_gguf_str *out,
                     char err[OWB_ERR_MAX]);
/* An array value: element type and count through the out pointers, the value itself in *arr.
 * `want` restricts the element type (pass OWB_GGUF_TYPE_COUNT for any). */
int owb_gguf_get_arr(const struct owb_gguf *g, const char *key, enum owb_gguf_type want,
                     const struct owb_gguf_value **arr, uint64_t *n, char err[OWB_ERR_MAX]);

/* Element i (< n) of an array value, decoded into a scalar/string/array value. */
void owb_gguf_arr_elem(const struct owb_gguf_value *arr, uint64_t i, struct owb_gguf_value *out);
/* Shortcuts for hot loops: element i as double (numeric arrays) and as string (string arrays). */
double owb_gguf_arr_num(const struct owb_gguf_value *arr, uint64_t i);
struct owb_gguf_str owb_gguf_arr_str(const struct owb_gguf_value *arr, uint64_t i);

/* Tensor lookup by name (hash table); NULL when absent. */
const struct owb_gguf_tensor *owb_gguf_tensor(const struct owb_gguf *g, const char *name);

/* ---- writer ---- */

struct owb_gguf_writer;

/* A new empty writer (version 3, alignment 32 unless general.alignment is set); NULL on OOM. */
struct owb_gguf_writer *owb_gguf_writer_new(void);
void owb_gguf_writer_free(struct owb_gguf_writer *w);

/* Set metadata. Setting an existing key replaces its value (the key keeps its position). All
 * return 0, OWB_E_NOMEM, or OWB_E_USAGE for an invalid argument (err says which). */
int owb_gguf_writer_set_u32(struct owb_gguf_writer *w, const char *key, uint32_t v,
                            char err[OWB_ERR_MAX]);
int owb_gguf_writer_set_i32(struct owb_gguf_writer *w, const char *key, int32_t v,
                            char err[OWB_ERR_MAX]);
int owb_gguf_writer_set_u64(struct owb_gguf_writer *w, const char *key, uint64_t v,
                            char err[OWB_ERR_MAX]);
int owb_gguf_writer_set_f32(struct owb_gguf_writer *w, const char *key, float v,
                            char err[OWB_ERR_MAX]);
int owb_gguf_writer_set_bool(struct owb_gguf_writer *w, const char *key, bool v,
                             char err[OWB_ERR_MAX]);
int owb_gguf_writer_set_str(struct owb_gguf_writer *w, const char *key, const char *s,
                            char err[OWB_ERR_MAX]);
/* Bytes of one value of a fixed-size metadata type (1, 2, 4 or 8); 0 for string, array or an
 * invalid type. */
size_t owb_gguf_scalar_size(enum owb_gguf_type t);

/* An array of n fixed-size elements of `elem_type` (not string/array), given as little-endian raw
 * bytes (on this little-endian host: the C array itself). */
int owb_gguf_writer_set_arr(struct owb_gguf_writer *w, const char *key,
                            enum owb_gguf_type elem_type, uint64_t n, const void *elems,
                            char err[OWB_ERR_MAX]);
/* An array of n NUL-terminated strings. */
int owb_gguf_writer_set_arr_str(struct owb_gguf_writer *w, const char *key, uint64_t n,
                                const char *const *strs, char err[OWB_ERR_MAX]);
/* Any value as decoded by the reader (copies nested arrays and strings). */
int owb_gguf_writer_set_value(struct owb_gguf_writer *w, const char *key,
                              const struct owb_gguf_value *v, char err[OWB_ERR_MAX]);

/* Add a tensor (names must be unique). `data` holds size bytes, which must equal the size the type
 * and shape imply; it is borrowed until owb_gguf_writer_write() returns. data may be NULL for a
 * tensor whose bytes are streamed (owb_gguf_writer_begin below). */
int owb_gguf_writer_add_tensor(struct owb_gguf_writer *w, const char *name, enum owb_type type,
                               int n_dims, const int64_t *ne, const void *data, size_t size,
                               char err[OWB_ERR_MAX]);

/* Write everything to `path` atomically (temp file in the same folder, fsync, rename). Returns 0,
 * OWB_E_IO or OWB_E_USAGE (bad alignment value, a tensor added without data) with err filled. The
 * writer stays usable. */
int owb_gguf_writer_write(struct owb_gguf_writer *w, const char *path, char err[OWB_ERR_MAX]);

/* Streaming, for files larger than memory: add the tensors with data NULL, then
 * owb_gguf_writer_begin (writes the header into a temporary file beside path),
 * owb_gguf_writer_stream (the tensors' bytes in order, in pieces of any size; the padding between
 * tensors is written for you) and owb_gguf_writer_finish (checks every byte came, fsync, rename).
 * Any failure, or freeing the writer before finish, removes the temporary file. Returns as
 * owb_gguf_writer_write; OWB_E_USAGE for more or fewer data bytes than the tensors hold. */
int owb_gguf_writer_begin(struct owb_gguf_writer *w, const char *path, char err[OWB_ERR_MAX]);
/* owb_gguf_writer_add_tensor with data NULL and the size the type and shape imply. */
int owb_gguf_writer_add_tensor_info(struct owb_gguf_writer *w, const char *name, enum owb_type type,
                                    int n_dims, const int64_t *ne, char err[OWB_ERR_MAX]);
int owb_gguf_writer_stream(struct owb_gguf_writer *w, const void *data, size_t n,
                           char err[OWB_ERR_MAX]);
int owb_gguf_writer_finish(struct owb_gguf_writer *w, char err[OWB_ERR_MAX]);
/* Bytes of the data section (every tensor, padded to the alignment). */
uint64_t owb_gguf_writer_data_bytes(const struct owb_gguf_writer *w);

/* At most this many files are tracked for owb_gguf_unlink_temps(). */
#define OWB_GGUF_WRITE_SLOTS 8
/* Remove the temporary files of writes in progress. Async-signal-safe: for a SIGINT/SIGTERM
 * handler of a command that writes GGUF files. */
void owb_gguf_unlink_temps(void);

/* Bytes of a tensor of this type and shape (0 and err filled when the row length is not a multiple
 * of the block size, the type is unknown or the size overflows). */
int owb_gguf_tensor_size(enum owb_type type, int n_dims, const int64_t *ne, size_t *size,
                         char err[OWB_ERR_MAX]);

#endif
