// JPEG decoding through libjpeg-turbo's libjpeg API, matching PIL's decoder settings.
#include "ccodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr pub;      // must be first: libjpeg sees this struct as its error manager
    jmp_buf jump;
    int code;
    const ccodecs_limits *limits;
    ccodecs_status *status;
} jpeg_guard;

typedef struct {
    struct jpeg_progress_mgr pub;   // must be first
    jpeg_guard *guard;
} jpeg_progress;

static void fail(j_common_ptr cinfo, int code, const char *prefix) {
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(g->status->message, sizeof g->status->message, "%s%s", prefix, text);
    g->code = code;
    longjmp(g->jump, 1);
}

static void on_error(j_common_ptr cinfo) {
    int msg = cinfo->err->msg_code;
    if (msg == JERR_INPUT_EOF || msg == JERR_INPUT_EMPTY) fail(cinfo, CCODECS_TRUNCATED, "");
    if (msg == JERR_OUT_OF_MEMORY) fail(cinfo, CCODECS_NO_MEMORY, "");
    fail(cinfo, CCODECS_CORRUPT, "");
}

// level < 0: warning; level >= 0: trace output, ignored.
static void on_message(j_common_ptr cinfo, int level) {
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    if (level >= 0) return;
    // jpeg_mem_src reports running out of data as a warning and pads with a fake EOI: a
    // truncated file is always an error (PIL raises "image file is truncated" too).
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) fail(cinfo, CCODECS_TRUNCATED, "");
    g->status->warnings += 1;
    if (g->limits->warnings_fatal) fail(cinfo, CCODECS_WARNING, "");
}

static void on_progress(j_common_ptr cinfo) {
    jpeg_progress *p = (jpeg_progress *)cinfo->progress;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    int32_t max = p->guard->limits->max_scans;
    if (cinfo->is_decompressor && d->progressive_mode && max > 0 && d->input_scan_number > max) {
        snprintf(p->guard->status->message, sizeof p->guard->status->message,
                 "progressive JPEG has more than %d scans", (int)max);
        p->guard->code = CCODECS_SCAN_LIMIT;
        longjmp(p->guard->jump, 1);
    }
}

static void setup(struct jpeg_decompress_struct *cinfo, jpeg_guard *g, jpeg_progress *prog,
                  const ccodecs_limits *limits, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    cinfo->err = jpeg_std_error(&g->pub);
    g->pub.error_exit = on_error;
    g->pub.emit_message = on_message;
    g->code = CCODECS_OK;
    g->limits = limits;
    g->status = status;
    prog->pub.progress_monitor = on_progress;
    prog->guard = g;
}

// After jpeg_read_header: records the dimensions and checks the limits and channel count.
static int check_header(struct jpeg_decompress_struct *cinfo, const ccodecs_limits *limits, ccodecs_status *st) {
    st->width = cinfo->image_width;
    st->height = cinfo->image_height;
    st->components = cinfo->num_components;
    if (ccodecs_exceeds(cinfo->image_width, cinfo->image_height, limits->max_pixels)) {
        snprintf(st->message, sizeof st->message, "image %lldx%lld exceeds the pixel limit %lld",
                 (long long)st->width, (long long)st->height, (long long)limits->max_pixels);
        return CCODECS_TOO_LARGE;
    }
    int n = cinfo->num_components;
    if (n != 1 && n != 3 && n != 4) {
        snprintf(st->message, sizeof st->message, "%d-channel JPEG (PIL and CoDEKit read 1, 3 or 4)", n);
        return CCODECS_UNSUPPORTED;
    }
    return CCODECS_OK;
}

int ccodecs_jpeg_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status) {
    struct jpeg_decompress_struct cinfo;
    jpeg_guard g;
    jpeg_progress prog;
    setup(&cinfo, &g, &prog, limits, status);
    if (size == 0) { snprintf(status->message, sizeof status->message, "empty file"); return CCODECS_TRUNCATED; }
    if (setjmp(g.jump)) { jpeg_destroy_decompress(&cinfo); return g.code; }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &prog.pub;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    int rc = check_header(&cinfo, limits, status);
    jpeg_destroy_decompress(&cinfo);
    return rc;
}

// PIL's Convert.c cmyk2rgb on Adobe-inverted samples ("CMYK;I"): with c' = 255 - c and
// nk = 255 - k' = k, out = clip(nk - muldiv255(c', nk)), muldiv255(a, b) = ((t >> 8) + t) >> 8, t = a*b + 128.
static inline uint8_t cmyk_channel(int c, int k) {
    int nk = k, ci = 255 - c;
    int t = ci * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

static void convert_row(const JSAMPLE *in, uint8_t *out, int width, int components) {
    if (components == 1) {
        for (int x = 0; x < width; x++) { out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x]; }
    } else {
        for (int x = 0; x < width; x++) {
            int k = in[4 * x + 3];
            out[3 * x] = cmyk_channel(in[4 * x], k);
            out[3 * x + 1] = cmyk_channel(in[4 * x + 1], k);
            out[3 * x + 2] = cmyk_channel(in[4 * x + 2], k);
        }
    }
}

// The common start of both decoders, called after the caller's setjmp (a libjpeg error longjmps
// back into the caller's frame): memory cap, source, header, limit checks, the dimensions the
// caller allocated for, and PIL's decoding settings. Returns CCODECS_OK or an error code; on error
// the caller destroys cinfo.
static int begin_decode(struct jpeg_decompress_struct *cinfo, jpeg_progress *prog, const uint8_t *data, size_t size,
                        const ccodecs_limits *limits, int32_t width, int32_t height, ccodecs_status *status) {
    jpeg_create_decompress(cinfo);
    cinfo->progress = &prog->pub;
    // libjpeg's own working memory (progressive coefficient buffers are 2 bytes per sample) is
    // capped in proportion to the pixel limit; past it, decoding fails instead of allocating.
    long cap = (long)(limits->max_pixels > 0 ? limits->max_pixels : 1) * 8;
    cinfo->mem->max_memory_to_use = cap < (64L << 20) ? (64L << 20) : cap;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    int rc = check_header(cinfo, limits, status);
    if (rc != CCODECS_OK) return rc;
    if (status->width != width || status->height != height) {
        snprintf(status->message, sizeof status->message, "header changed between reads");
        return CCODECS_CORRUPT;
    }
    int n = cinfo->num_components;
    cinfo->out_color_space = n == 1 ? JCS_GRAYSCALE : (n == 3 ? JCS_RGB : JCS_CMYK);
    cinfo->dct_method = JDCT_ISLOW;          // PIL's default (it switches only in draft mode)
    cinfo->do_fancy_upsampling = TRUE;
    return CCODECS_OK;
}

int ccodecs_jpeg_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                        uint8_t *out, int32_t width, int32_t height, ccodecs_status *status) {
    struct jpeg_decompress_struct cinfo;
    jpeg_guard g;
    jpeg_progress prog;
    setup(&cinfo, &g, &prog, limits, status);
    if (size == 0) { snprintf(status->message, sizeof status->message, "empty file"); return CCODECS_TRUNCATED; }
    if (setjmp(g.jump)) { jpeg_destroy_decompress(&cinfo); return g.code; }
    int rc = begin_decode(&cinfo, &prog, data, size, limits, width, height, status);
    if (rc != CCODECS_OK) { jpeg_destroy_decompress(&cinfo); return rc; }
    int n = cinfo.num_components;
    jpeg_start_decompress(&cinfo);          // progressive files: all scans are read here
    JSAMPARRAY scratch = NULL;
    if (n != 3) scratch = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, (JDIMENSION)width * n, 1);
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = out + (size_t)cinfo.output_scanline * (size_t)width * 3;
        if (n == 3) {
            JSAMPROW row = dst;
            jpeg_read_scanlines(&cinfo, &row, 1);
        } else {
            jpeg_read_scanlines(&cinfo, scratch, 1);
            convert_row(scratch[0], dst, width, n);
        }
    }
    // With warnings fatal, read on to the end of the file (as djpeg does): junk after the last
    // scan ("extraneous bytes before marker 0xd9") is an error here as in the crop-region decode.
    if (limits->warnings_fatal) jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return CCODECS_OK;
}

// Decodes only rows [ry, ry + rh) and columns [rx, rx + rw) of the image into `out`
// (rw * rh * 3 bytes), using libjpeg-turbo's jpeg_crop_scanline / jpeg_skip_scanlines with a
// 16-pixel margin on every side so that the retained pixels see the same upsampling context as
// in a full decode. The caller checks equality with a full decode in tests.
int ccodecs_jpeg_decode_region(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                               int32_t width, int32_t height, int32_t rx, int32_t ry, int32_t rw, int32_t rh,
                               uint8_t *out, ccodecs_status *status) {
    struct jpeg_decompress_struct cinfo;
    jpeg_guard g;
    jpeg_progress prog;
    setup(&cinfo, &g, &prog, limits, status);
    if (size == 0) { snprintf(status->message, sizeof status->message, "empty file"); return CCODECS_TRUNCATED; }
    if (rx < 0 || ry < 0 || rw <= 0 || rh <= 0 || rx + rw > width || ry + rh > height) {
        snprintf(status->message, sizeof status->message, "region outside the image");
        return CCODECS_CORRUPT;
    }
    if (setjmp(g.jump)) { jpeg_destroy_decompress(&cinfo); return g.code; }
    int rc = begin_decode(&cinfo, &prog, data, size, limits, width, height, status);
    if (rc != CCODECS_OK) { jpeg_destroy_decompress(&cinfo); return rc; }
    int n = cinfo.num_components;
    jpeg_start_decompress(&cinfo);
    int x_lo = rx - 16 < 0 ? 0 : rx - 16, x_hi = rx + rw + 16 > width ? width : rx + rw + 16;
    JDIMENSION xoff = (JDIMENSION)x_lo, cw = (JDIMENSION)(x_hi - x_lo);
    if (x_lo > 0 || x_hi < width) jpeg_crop_scanline(&cinfo, &xoff, &cw);
    else { xoff = 0; cw = cinfo.output_width; }
    int y_lo = ry - 16 < 0 ? 0 : ry - 16;
    if (y_lo > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)y_lo);
    JSAMPARRAY scratch = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, cinfo.output_width * n, 1);
    int skip_cols = rx - (int)xoff;
    while ((int)cinfo.output_scanline < ry + rh) {
        int y = (int)cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, scratch, 1);
        if (y < ry) continue;
        uint8_t *dst = out + (size_t)(y - ry) * (size_t)rw * 3;
        if (n == 3) memcpy(dst, scratch[0] + (size_t)skip_cols * 3, (size_t)rw * 3);
        else convert_row(scratch[0] + (size_t)skip_cols * n, dst, rw, n);
    }
    // With warnings fatal, read the rest of the entropy data and the end of the file as the
    // full decode does, so that corrupt data past the crop is the same error on both paths.
    // jpeg_skip_scanlines still Huffman-decodes the rows it skips (no IDCT, no colour
    // conversion); skipping to the very end would mark EOI reached without reading, hence the
    // last row is read.
    if (limits->warnings_fatal) {
        JDIMENSION h = cinfo.output_height;
        if (cinfo.output_scanline + 1 < h) jpeg_skip_scanlines(&cinfo, h - 1 - cinfo.output_scanline);
        while (cinfo.output_scanline < h) jpeg_read_scanlines(&cinfo, scratch, 1);
        jpeg_finish_decompress(&cinfo);
    }
    jpeg_destroy_decompress(&cinfo);
    return CCODECS_OK;
}
