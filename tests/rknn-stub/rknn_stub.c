/*
 * Stub of Rockchip's librknnrt.so for gozcu's tests (no NPU needed).
 *
 * It exports exactly the functions rknn-rs 0.2.4 / rknn-sys-rs reference (rknn_init,
 * rknn_destroy, rknn_query, rknn_inputs_set, rknn_run, rknn_outputs_get,
 * rknn_outputs_release, rknn_set_core_mask, rknn_set_batch_core_num, rknn_create_mem,
 * rknn_create_mem2, rknn_destroy_mem, rknn_mem_sync) with the ABI of rknn_api.h 2.x. The
 * struct layouts below are re-declared from that ABI (Rockchip's header is not
 * redistributable, so it is not copied here); the _Static_asserts pin the sizes, and
 * gozcu's Rust side asserts the same sizes against the bindgen structs.
 *
 * What the stub does is driven by a fixture, a text "model file" of key=value lines (see
 * README.md in this folder for the format):
 *   - rknn_init(path) reads the model file; a file that does not start with
 *     "gozcu-rknn-stub" is looked up as <dir>/attrs.txt instead (dir below), else the init
 *     fails with RKNN_ERR_MODEL_INVALID like the real runtime does on a foreign file.
 *   - the fixture dir is $RKNN_STUB_DIR if set, else the folder of the model file;
 *   - rknn_query reports the input/output attributes and the SDK/driver versions;
 *   - rknn_inputs_set records the input it receives in <dir>/last_input.bin and
 *     <dir>/last_input.txt (index, size, type, fmt, pass_through);
 *   - rknn_outputs_get returns <dir>/by_input/<fnv1a64 of the input, 16 hex>/output<i>.bin
 *     if it exists, else <dir>/output<i>.bin, raw in the output's type (int8 / float32 ...),
 *     dequantized to float when the caller sets want_float;
 *   - switches: init_error=<code> (or env RKNN_STUB_INIT_ERROR), core_mask_error=<code>,
 *     run_error=<code>, and the file <dir>/fail_run (holding a code, default -1) fails every
 *     rknn_run while it exists;
 *   - every call is appended to <dir>/calls.log as "<op> ctx=<id> tid=<thread id> ..." so
 *     tests can check which thread used which context and which core mask was set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- ABI of rknn_api.h 2.x ------------------------------------------------------------ */

#ifdef __arm__
typedef uint32_t rknn_context;
#else
typedef uint64_t rknn_context;
#endif

#define RKNN_SUCC 0
#define RKNN_ERR_FAIL -1
#define RKNN_ERR_PARAM_INVALID -5
#define RKNN_ERR_MODEL_INVALID -6
#define RKNN_ERR_CTX_INVALID -7
#define RKNN_ERR_INPUT_INVALID -8
#define RKNN_ERR_OUTPUT_INVALID -9

#define RKNN_MAX_DIMS 16
#define RKNN_MAX_NAME_LEN 256

enum { Q_IN_OUT_NUM = 0, Q_INPUT_ATTR = 1, Q_OUTPUT_ATTR = 2, Q_SDK_VERSION = 5 };
enum { T_F32 = 0, T_F16, T_I8, T_U8, T_I16, T_U16, T_I32, T_U32, T_I64, T_BOOL, T_I4, T_BF16 };
enum { QNT_NONE = 0, QNT_DFP = 1, QNT_AFFINE = 2 };

typedef struct {
    uint32_t n_input;
    uint32_t n_output;
} rknn_input_output_num;

typedef struct {
    uint32_t index;
    uint32_t n_dims;
    uint32_t dims[RKNN_MAX_DIMS];
    char name[RKNN_MAX_NAME_LEN];
    uint32_t n_elems;
    uint32_t size;
    int fmt;
    int type;
    int qnt_type;
    int8_t fl;
    int32_t zp;
    float scale;
    uint32_t w_stride;
    uint32_t size_with_stride;
    uint8_t pass_through;
    uint32_t h_stride;
} rknn_tensor_attr;

typedef struct {
    char api_version[256];
    char drv_version[256];
} rknn_sdk_version;

typedef struct {
    uint32_t index;
    void *buf;
    uint32_t size;
    uint8_t pass_through;
    int type;
    int fmt;
} rknn_input;

typedef struct {
    uint8_t want_float;
    uint8_t is_prealloc;
    uint32_t index;
    void *buf;
    uint32_t size;
} rknn_output;

typedef struct {
    void *virt_addr;
    uint64_t phys_addr;
    int32_t fd;
    int32_t offset;
    uint32_t size;
    uint32_t flags;
    void *priv_data;
} rknn_tensor_mem;

/* Opaque to the stub: only passed through. */
typedef struct rknn_init_extend rknn_init_extend;
typedef struct rknn_run_extend rknn_run_extend;
typedef struct rknn_output_extend rknn_output_extend;

#ifndef __arm__
_Static_assert(sizeof(rknn_tensor_attr) == 376, "rknn_tensor_attr layout");
_Static_assert(offsetof(rknn_tensor_attr, name) == 72, "rknn_tensor_attr.name");
_Static_assert(offsetof(rknn_tensor_attr, n_elems) == 328, "rknn_tensor_attr.n_elems");
_Static_assert(offsetof(rknn_tensor_attr, fmt) == 336, "rknn_tensor_attr.fmt");
_Static_assert(offsetof(rknn_tensor_attr, fl) == 348, "rknn_tensor_attr.fl");
_Static_assert(offsetof(rknn_tensor_attr, zp) == 352, "rknn_tensor_attr.zp");
_Static_assert(offsetof(rknn_tensor_attr, scale) == 356, "rknn_tensor_attr.scale");
_Static_assert(offsetof(rknn_tensor_attr, pass_through) == 368, "rknn_tensor_attr.pass_through");
_Static_assert(offsetof(rknn_tensor_attr, h_stride) == 372, "rknn_tensor_attr.h_stride");
_Static_assert(offsetof(rknn_input, pass_through) == 20, "rknn_input.pass_through");
_Static_assert(offsetof(rknn_output, buf) == 8, "rknn_output.buf");
_Static_assert(sizeof(rknn_input) == 32, "rknn_input layout");
_Static_assert(sizeof(rknn_output) == 24, "rknn_output layout");
_Static_assert(sizeof(rknn_tensor_mem) == 40, "rknn_tensor_mem layout");
#endif

/* ---- fixture ---------------------------------------------------------------------------- */

#define MAX_TENSORS 16
#define MAX_CTX 64

typedef struct {
    rknn_tensor_attr attr[2][MAX_TENSORS]; /* [0] inputs, [1] outputs */
    uint32_t n[2];
    char api_version[256];
    char drv_version[256];
    int init_error;
    int core_mask_error;
    int run_error;
} fixture;

typedef struct {
    int used;
    long tid;
    char dir[4096];
    fixture fx;
    uint64_t input_hash;
    int have_input;
    int ran;
} context;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static context contexts[MAX_CTX];

static long thread_id(void) { return (long)syscall(SYS_gettid); }

/* The real runtime reports failures on stderr as "E RKNN: ..."; the stub does the same. */
static void err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("E RKNN(stub): ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void log_call(const char *dir, const char *fmt, ...) {
    char path[4200], line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/calls.log", dir);
    /* One write() of one line with O_APPEND (fopen "a"): lines from threads do not mix. */
    FILE *f = fopen(path, "a");
    if (!f) return;
    setvbuf(f, NULL, _IONBF, 0);
    fprintf(f, "%s tid=%ld\n", line, thread_id());
    fclose(f);
}

static int parse_enum(const char *v, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(v, names[i]) == 0) return i;
    return atoi(v);
}

static const char *const FMT_NAMES[] = {"nchw", "nhwc", "nc1hwc2", "undefined"};
static const char *const TYPE_NAMES[] = {"float32", "float16", "int8", "uint8", "int16", "uint16",
                                         "int32",   "uint32",  "int64", "bool", "int4", "bfloat16"};
static const char *const QNT_NAMES[] = {"none", "dfp", "affine"};

static uint32_t type_size(int type) {
    switch (type) {
    case T_F32: case T_I32: case T_U32: return 4;
    case T_F16: case T_I16: case T_U16: case T_BF16: return 2;
    case T_I64: return 8;
    default: return 1;
    }
}

static void finish_attr(rknn_tensor_attr *a) {
    uint32_t n = 1;
    for (uint32_t i = 0; i < a->n_dims; i++) n *= a->dims[i];
    a->n_elems = n;
    a->size = n * type_size(a->type);
    a->size_with_stride = a->size;
}

/* Sets one "in<i>.<field>" / "out<i>.<field>" key. Returns 0, or -1 for a bad key. */
static int set_tensor_key(fixture *fx, int out, const char *rest, const char *v) {
    char *end;
    long i = strtol(rest, &end, 10);
    if (end == rest || *end != '.' || i < 0 || i >= MAX_TENSORS) return -1;
    rknn_tensor_attr *a = &fx->attr[out][i];
    a->index = (uint32_t)i;
    const char *f = end + 1;
    if (strcmp(f, "name") == 0) {
        snprintf(a->name, sizeof a->name, "%s", v);
    } else if (strcmp(f, "dims") == 0) {
        a->n_dims = 0;
        const char *p = v;
        for (;;) {
            unsigned long d = strtoul(p, &end, 10);
            if (end == p || a->n_dims == RKNN_MAX_DIMS) return -1;
            a->dims[a->n_dims++] = (uint32_t)d;
            if (*end == 0) break;
            if (*end != ',') return -1;
            p = end + 1;
        }
    } else if (strcmp(f, "fmt") == 0) {
        a->fmt = parse_enum(v, FMT_NAMES, 4);
    } else if (strcmp(f, "type") == 0) {
        a->type = parse_enum(v, TYPE_NAMES, 12);
    } else if (strcmp(f, "qnt") == 0) {
        a->qnt_type = parse_enum(v, QNT_NAMES, 3);
    } else if (strcmp(f, "zp") == 0) {
        a->zp = (int32_t)atoi(v);
    } else if (strcmp(f, "scale") == 0) {
        a->scale = strtof(v, NULL);
    } else if (strcmp(f, "fl") == 0) {
        a->fl = (int8_t)atoi(v);
    } else {
        return -1;
    }
    return 0;
}

/* Reads a fixture. Returns 0, or an RKNN error code after printing why. */
static int load_fixture(const char *path, fixture *fx) {
    FILE *f = fopen(path, "r");
    if (!f) {
        err("cannot open model %s: %s", path, strerror(errno));
        return RKNN_ERR_MODEL_INVALID;
    }
    char line[1024];
    if (!fgets(line, sizeof line, f) || strncmp(line, "gozcu-rknn-stub", 15) != 0) {
        fclose(f);
        return 1; /* not a fixture */
    }
    memset(fx, 0, sizeof *fx);
    snprintf(fx->api_version, sizeof fx->api_version, "2.3.2 (stub)");
    snprintf(fx->drv_version, sizeof fx->drv_version, "0.9.8");
    int lineno = 1;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == 0 || line[0] == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq) goto bad;
        *eq = 0;
        const char *k = line, *v = eq + 1;
        if (strcmp(k, "inputs") == 0) fx->n[0] = (uint32_t)atoi(v);
        else if (strcmp(k, "outputs") == 0) fx->n[1] = (uint32_t)atoi(v);
        else if (strcmp(k, "sdk_version") == 0) snprintf(fx->api_version, 256, "%s", v);
        else if (strcmp(k, "driver_version") == 0) snprintf(fx->drv_version, 256, "%s", v);
        else if (strcmp(k, "init_error") == 0) fx->init_error = atoi(v);
        else if (strcmp(k, "core_mask_error") == 0) fx->core_mask_error = atoi(v);
        else if (strcmp(k, "run_error") == 0) fx->run_error = atoi(v);
        else if (strncmp(k, "in", 2) == 0 && k[2] >= '0' && k[2] <= '9') {
            if (set_tensor_key(fx, 0, k + 2, v)) goto bad;
        } else if (strncmp(k, "out", 3) == 0 && k[3] >= '0' && k[3] <= '9') {
            if (set_tensor_key(fx, 1, k + 3, v)) goto bad;
        } else goto bad;
    }
    fclose(f);
    if (fx->n[0] > MAX_TENSORS || fx->n[1] > MAX_TENSORS) {
        err("%s: more than %d inputs or outputs", path, MAX_TENSORS);
        return RKNN_ERR_MODEL_INVALID;
    }
    for (int io = 0; io < 2; io++)
        for (uint32_t i = 0; i < fx->n[io]; i++) finish_attr(&fx->attr[io][i]);
    return 0;
bad:
    fclose(f);
    err("%s:%d: bad fixture line", path, lineno);
    return RKNN_ERR_MODEL_INVALID;
}

static context *get_ctx(rknn_context c) {
    if (c == 0 || c > MAX_CTX || !contexts[c - 1].used) return NULL;
    return &contexts[c - 1];
}

static uint64_t fnv1a64(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Writes a file atomically (temp + rename), so concurrent contexts never leave a torn one. */
static void write_file(const char *dir, const char *name, const void *data, size_t n) {
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld", dir, name, thread_id());
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    if (w == n) rename(tmp, path);
    else unlink(tmp);
}

/* Reads a whole file into a new buffer; NULL if missing. */
static void *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    if (len < 0) {
        fclose(f);
        return NULL;
    }
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* ---- API -------------------------------------------------------------------------------- */

int rknn_init(rknn_context *context_out, void *model, uint32_t size, uint32_t flag,
              rknn_init_extend *extend) {
    (void)flag;
    (void)extend;
    if (!context_out || !model) return RKNN_ERR_PARAM_INVALID;
    if (size != 0) {
        err("the stub only loads models by path (size = 0)");
        return RKNN_ERR_MODEL_INVALID;
    }
    const char *path = (const char *)model;
    context c;
    memset(&c, 0, sizeof c);
    const char *env_dir = getenv("RKNN_STUB_DIR");
    if (env_dir && *env_dir) {
        snprintf(c.dir, sizeof c.dir, "%s", env_dir);
    } else {
        snprintf(c.dir, sizeof c.dir, "%s", path);
        char *slash = strrchr(c.dir, '/');
        if (slash) *slash = 0;
        else snprintf(c.dir, sizeof c.dir, ".");
    }
    int r = load_fixture(path, &c.fx);
    if (r == 1) {
        char attrs[4200];
        snprintf(attrs, sizeof attrs, "%s/attrs.txt", c.dir);
        r = load_fixture(attrs, &c.fx);
        if (r == 1) {
            err("Invalid RKNN model file %s (not a gozcu stub fixture)", path);
            r = RKNN_ERR_MODEL_INVALID;
        }
    }
    if (r != 0) return r;
    const char *env_err = getenv("RKNN_STUB_INIT_ERROR");
    int init_error = (env_err && *env_err) ? atoi(env_err) : c.fx.init_error;
    log_call(c.dir, "init ctx=0 result=%d", init_error);
    if (init_error != 0) {
        err("rknn_init failed as the fixture asks (%d)", init_error);
        return init_error;
    }
    c.used = 1;
    c.tid = thread_id();
    pthread_mutex_lock(&lock);
    int slot = -1;
    for (int i = 0; i < MAX_CTX; i++)
        if (!contexts[i].used) {
            slot = i;
            break;
        }
    if (slot >= 0) contexts[slot] = c;
    pthread_mutex_unlock(&lock);
    if (slot < 0) {
        err("out of stub contexts");
        return RKNN_ERR_FAIL;
    }
    *context_out = (rknn_context)(slot + 1);
    log_call(c.dir, "created ctx=%d", slot + 1);
    return RKNN_SUCC;
}

int rknn_destroy(rknn_context ctx) {
    pthread_mutex_lock(&lock);
    context *c = get_ctx(ctx);
    if (c) {
        log_call(c->dir, "destroy ctx=%d", (int)ctx);
        c->used = 0;
    }
    pthread_mutex_unlock(&lock);
    return c ? RKNN_SUCC : RKNN_ERR_CTX_INVALID;
}

int rknn_query(rknn_context ctx, int cmd, void *info, uint32_t size) {
    context *c = get_ctx(ctx);
    if (!c || !info) return c ? RKNN_ERR_PARAM_INVALID : RKNN_ERR_CTX_INVALID;
    switch (cmd) {
    case Q_IN_OUT_NUM: {
        if (size < sizeof(rknn_input_output_num)) return RKNN_ERR_PARAM_INVALID;
        rknn_input_output_num *n = info;
        n->n_input = c->fx.n[0];
        n->n_output = c->fx.n[1];
        return RKNN_SUCC;
    }
    case Q_INPUT_ATTR:
    case Q_OUTPUT_ATTR: {
        if (size < sizeof(rknn_tensor_attr)) return RKNN_ERR_PARAM_INVALID;
        rknn_tensor_attr *a = info;
        int io = cmd == Q_OUTPUT_ATTR;
        if (a->index >= c->fx.n[io]) return RKNN_ERR_PARAM_INVALID;
        *a = c->fx.attr[io][a->index];
        return RKNN_SUCC;
    }
    case Q_SDK_VERSION: {
        if (size < sizeof(rknn_sdk_version)) return RKNN_ERR_PARAM_INVALID;
        rknn_sdk_version *v = info;
        snprintf(v->api_version, sizeof v->api_version, "%s", c->fx.api_version);
        snprintf(v->drv_version, sizeof v->drv_version, "%s", c->fx.drv_version);
        return RKNN_SUCC;
    }
    default:
        err("query %d is not implemented by the stub", cmd);
        return RKNN_ERR_PARAM_INVALID;
    }
}

int rknn_set_core_mask(rknn_context ctx, int mask) {
    context *c = get_ctx(ctx);
    if (!c) return RKNN_ERR_CTX_INVALID;
    log_call(c->dir, "core_mask ctx=%d mask=%d result=%d", (int)ctx, mask, c->fx.core_mask_error);
    if (c->fx.core_mask_error) err("rknn_set_core_mask: not supported on this platform");
    return c->fx.core_mask_error;
}

int rknn_set_batch_core_num(rknn_context ctx, int core_num) {
    context *c = get_ctx(ctx);
    if (!c) return RKNN_ERR_CTX_INVALID;
    log_call(c->dir, "batch_core_num ctx=%d n=%d", (int)ctx, core_num);
    return RKNN_SUCC;
}

int rknn_inputs_set(rknn_context ctx, uint32_t n_inputs, rknn_input inputs[]) {
    context *c = get_ctx(ctx);
    if (!c) return RKNN_ERR_CTX_INVALID;
    if (!inputs || n_inputs != c->fx.n[0]) {
        err("rknn_inputs_set: %u inputs given, the model has %u", n_inputs, c->fx.n[0]);
        return RKNN_ERR_PARAM_INVALID;
    }
    rknn_input *in = &inputs[0];
    log_call(c->dir, "inputs_set ctx=%d size=%u", (int)ctx, in->size);
    char meta[256];
    int len = snprintf(meta, sizeof meta, "index=%u size=%u type=%s fmt=%s pass_through=%u\n",
                       in->index, in->size,
                       (in->type >= 0 && in->type < 12) ? TYPE_NAMES[in->type] : "?",
                       (in->fmt >= 0 && in->fmt < 4) ? FMT_NAMES[in->fmt] : "?",
                       in->pass_through);
    write_file(c->dir, "last_input.txt", meta, (size_t)len);
    if (!in->buf) return RKNN_ERR_INPUT_INVALID;
    write_file(c->dir, "last_input.bin", in->buf, in->size);
    /* Like the runtime, refuse an input whose size does not fit the model's. */
    const rknn_tensor_attr *a = &c->fx.attr[0][in->index < MAX_TENSORS ? in->index : 0];
    if (in->type == T_U8 && in->size != a->n_elems) {
        err("rknn_inputs_set: input size %u, the model needs %u", in->size, a->n_elems);
        return RKNN_ERR_INPUT_INVALID;
    }
    c->input_hash = fnv1a64(in->buf, in->size);
    c->have_input = 1;
    return RKNN_SUCC;
}

int rknn_run(rknn_context ctx, rknn_run_extend *extend) {
    (void)extend;
    context *c = get_ctx(ctx);
    if (!c) return RKNN_ERR_CTX_INVALID;
    int r = c->fx.run_error;
    char path[4200];
    snprintf(path, sizeof path, "%s/fail_run", c->dir);
    size_t n = 0;
    char *code = read_file(path, &n);
    if (code) {
        char text[32] = {0};
        memcpy(text, code, n < 31 ? n : 31);
        r = atoi(text) ? atoi(text) : RKNN_ERR_FAIL;
        free(code);
    }
    if (!r && !c->have_input) r = RKNN_ERR_INPUT_INVALID;
    log_call(c->dir, "run ctx=%d result=%d", (int)ctx, r);
    if (r) err("rknn_run failed (%d)", r);
    c->ran = !r;
    return r;
}

static float real_value(const rknn_tensor_attr *a, const uint8_t *raw, uint32_t i) {
    switch (a->type) {
    case T_F32: {
        float f;
        memcpy(&f, raw + 4 * (size_t)i, 4);
        return f;
    }
    case T_I8: {
        int q = ((const int8_t *)raw)[i];
        if (a->qnt_type == QNT_AFFINE) return (float)(q - a->zp) * a->scale;
        if (a->qnt_type == QNT_DFP) return (float)q / (float)(1 << a->fl);
        return (float)q;
    }
    case T_U8: {
        int q = raw[i];
        if (a->qnt_type == QNT_AFFINE) return (float)(q - a->zp) * a->scale;
        return (float)q;
    }
    default:
        return 0.0f;
    }
}

int rknn_outputs_get(rknn_context ctx, uint32_t n_outputs, rknn_output outputs[],
                     rknn_output_extend *extend) {
    (void)extend;
    context *c = get_ctx(ctx);
    if (!c) return RKNN_ERR_CTX_INVALID;
    if (!outputs || n_outputs > c->fx.n[1]) return RKNN_ERR_PARAM_INVALID;
    if (!c->ran) {
        err("rknn_outputs_get without a successful rknn_run");
        return RKNN_ERR_FAIL;
    }
    log_call(c->dir, "outputs_get ctx=%d n=%u", (int)ctx, n_outputs);
    for (uint32_t k = 0; k < n_outputs; k++) outputs[k].buf = NULL;
    for (uint32_t k = 0; k < n_outputs; k++) {
        rknn_output *o = &outputs[k];
        if (o->index >= c->fx.n[1]) return RKNN_ERR_PARAM_INVALID;
        const rknn_tensor_attr *a = &c->fx.attr[1][o->index];
        char path[4400];
        snprintf(path, sizeof path, "%s/by_input/%016llx/output%u.bin", c->dir,
                 (unsigned long long)c->input_hash, o->index);
        size_t n = 0;
        uint8_t *raw = read_file(path, &n);
        if (!raw) {
            snprintf(path, sizeof path, "%s/output%u.bin", c->dir, o->index);
            raw = read_file(path, &n);
        }
        if (!raw || n != a->size) {
            err("output %u: %s %s (need %u bytes, have %zu)", o->index, path,
                raw ? "has the wrong size" : "is missing", a->size, n);
            free(raw);
            for (uint32_t j = 0; j < k; j++) {
                if (!outputs[j].is_prealloc) free(outputs[j].buf);
                outputs[j].buf = NULL;
            }
            return RKNN_ERR_OUTPUT_INVALID;
        }
        if (o->want_float && a->type != T_F32) {
            float *f = malloc((size_t)a->n_elems * 4);
            if (!f) {
                free(raw);
                return RKNN_ERR_FAIL;
            }
            for (uint32_t i = 0; i < a->n_elems; i++) f[i] = real_value(a, raw, i);
            free(raw);
            raw = (uint8_t *)f;
            n = (size_t)a->n_elems * 4;
        }
        if (o->is_prealloc) {
            if (!o->buf || o->size < n) {
                free(raw);
                return RKNN_ERR_PARAM_INVALID;
            }
            memcpy(o->buf, raw, n);
            free(raw);
        } else {
            o->buf = raw;
        }
        o->size = (uint32_t)n;
    }
    return RKNN_SUCC;
}

int rknn_outputs_release(rknn_context ctx, uint32_t n_outputs, rknn_output outputs[]) {
    context *c = get_ctx(ctx);
    if (!c) return RKNN_ERR_CTX_INVALID;
    log_call(c->dir, "outputs_release ctx=%d n=%u", (int)ctx, n_outputs);
    for (uint32_t k = 0; outputs && k < n_outputs; k++) {
        if (!outputs[k].is_prealloc) free(outputs[k].buf);
        outputs[k].buf = NULL;
    }
    return RKNN_SUCC;
}

/* Zero-copy memory: referenced by rknn-rs; gozcu does not use it. */
rknn_tensor_mem *rknn_create_mem2(rknn_context ctx, uint64_t size, uint64_t alloc_flags) {
    (void)alloc_flags;
    if (!get_ctx(ctx) || size > UINT32_MAX) return NULL;
    rknn_tensor_mem *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->virt_addr = calloc(1, size ? (size_t)size : 1);
    if (!m->virt_addr) {
        free(m);
        return NULL;
    }
    m->size = (uint32_t)size;
    m->fd = -1;
    m->flags = 1; /* RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE */
    return m;
}

rknn_tensor_mem *rknn_create_mem(rknn_context ctx, uint32_t size) {
    return rknn_create_mem2(ctx, size, 0);
}

int rknn_destroy_mem(rknn_context ctx, rknn_tensor_mem *mem) {
    (void)ctx;
    if (!mem) return RKNN_ERR_PARAM_INVALID;
    free(mem->virt_addr);
    free(mem);
    return RKNN_SUCC;
}

int rknn_mem_sync(rknn_context ctx, rknn_tensor_mem *mem, int mode) {
    (void)mode;
    return (get_ctx(ctx) && mem) ? RKNN_SUCC : RKNN_ERR_PARAM_INVALID;
}
