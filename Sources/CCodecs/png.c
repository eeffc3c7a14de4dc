// PNG decoding through libpng 1.6, matching PIL's convert("RGB").
#include "ccodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    int truncated;
    ccodecs_status *status;
    const ccodecs_limits *limits;
    uint8_t *native;          // decoder-owned buffers, freed on every exit path
    png_bytep *rows;
} png_source;

static void on_error(png_structp png, png_const_charp msg) {
    png_source *s = (png_source *)png_get_error_ptr(png);
    snprintf(s->status->message, sizeof s->status->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    png_source *s = (png_source *)png_get_error_ptr(png);
    s->status->warnings += 1;
    (void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n) {
    png_source *s = (png_source *)png_get_io_ptr(png);
    if (n > s->size - s->pos) {
        s->truncated = 1;
        png_error(png, "unexpected end of data");
    }
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

// Ancillary chunks that cannot change convert("RGB"): skipped unread (no decompression of
// zTXt/iCCP bombs, no allocation for them).
static const png_byte ignored_chunks[] =
    "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0tIME\0pHYs\0bKGD\0hIST\0gAMA\0cHRM\0sRGB\0sBIT\0oFFs\0pCAL\0sCAL\0";

static int begin(png_structp png, png_infop info, png_source *s) {
    png_set_read_fn(png, s, on_read);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks, (int)(sizeof ignored_chunks / 5));
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, info);
    ccodecs_status *st = s->status;
    st->width = png_get_image_width(png, info);
    st->height = png_get_image_height(png, info);
    st->components = png_get_channels(png, info);
    if (ccodecs_exceeds((uint64_t)st->width, (uint64_t)st->height, s->limits->max_pixels)) {
        snprintf(st->message, sizeof st->message, "image %lldx%lld exceeds the pixel limit %lld",
                 (long long)st->width, (long long)st->height, (long long)s->limits->max_pixels);
        return CCODECS_TOO_LARGE;
    }
    return CCODECS_OK;
}

static int bad_signature(const uint8_t *data, size_t size, ccodecs_status *st) {
    if (size < 8) { snprintf(st->message, sizeof st->message, "file has %zu bytes, shorter than a PNG signature", size); return CCODECS_TRUNCATED; }
    if (png_sig_cmp(data, 0, 8)) { snprintf(st->message, sizeof st->message, "bad PNG signature"); return CCODECS_CORRUPT; }
    return CCODECS_OK;
}

static int error_code(png_source *s) { return s->truncated ? CCODECS_TRUNCATED : CCODECS_CORRUPT; }

int ccodecs_png_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    int rc = bad_signature(data, size, status);
    if (rc) return rc;
    png_source s = { data, size, 0, 0, status, limits, NULL, NULL };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    if (!png) return CCODECS_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); return CCODECS_NO_MEMORY; }
    if (setjmp(png_jmpbuf(png))) { png_destroy_read_struct(&png, &info, NULL); return error_code(&s); }
    rc = begin(png, info, &s);
    png_destroy_read_struct(&png, &info, NULL);
    return rc;
}

// Native rows (8-bit G, GA, RGB, RGBA, or 16-bit big-endian G) to RGB.
static void convert_rows(png_source *s, uint8_t *out, int width, int height, int channels, int depth, size_t rowbytes) {
    for (int y = 0; y < height; y++) {
        const uint8_t *in = s->native + (size_t)y * rowbytes;
        uint8_t *dst = out + (size_t)y * (size_t)width * 3;
        if (depth == 16) {  // PIL: "I;16" -> "RGB" clips each sample to 255
            for (int x = 0; x < width; x++) {
                unsigned v = ((unsigned)in[2 * x] << 8) | in[2 * x + 1];
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = (uint8_t)(v > 255 ? 255 : v);
            }
        } else if (channels <= 2) {
            for (int x = 0; x < width; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = in[channels * x];
        } else {
            for (int x = 0; x < width; x++) {
                dst[3 * x] = in[channels * x];
                dst[3 * x + 1] = in[channels * x + 1];
                dst[3 * x + 2] = in[channels * x + 2];
            }
        }
    }
}

static int read_pixels(png_structp png, png_infop info, png_source *s, uint8_t *out, int width, int height) {
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && color != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);  // PIL keeps the high byte
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info), out_depth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (!(out_depth == 8 || (out_depth == 16 && channels == 1)) || channels < 1 || channels > 4) {
        snprintf(s->status->message, sizeof s->status->message, "unexpected PNG layout (%d channels, %d bits)", channels, out_depth);
        return CCODECS_UNSUPPORTED;
    }
    int direct = channels == 3 && out_depth == 8;
    if (!direct && rowbytes > (size_t)width * 8) return CCODECS_CORRUPT;
    s->rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (!direct) s->native = (uint8_t *)malloc(rowbytes * (size_t)height);
    if (!s->rows || (!direct && !s->native)) return CCODECS_NO_MEMORY;
    for (int y = 0; y < height; y++)
        s->rows[y] = direct ? out + (size_t)y * (size_t)width * 3 : s->native + (size_t)y * rowbytes;
    png_read_image(png, s->rows);  // no png_read_end: chunks after the image data do not matter
    if (!direct) convert_rows(s, out, width, height, channels, out_depth, rowbytes);
    return CCODECS_OK;
}

int ccodecs_png_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                       uint8_t *out, int32_t width, int32_t height, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    int rc = bad_signature(data, size, status);
    if (rc) return rc;
    png_source s = { data, size, 0, 0, status, limits, NULL, NULL };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    if (!png) return CCODECS_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); return CCODECS_NO_MEMORY; }
    if (setjmp(png_jmpbuf(png))) {
        free(s.native); free(s.rows);
        png_destroy_read_struct(&png, &info, NULL);
        return error_code(&s);
    }
    rc = begin(png, info, &s);
    if (rc == CCODECS_OK && (status->width != width || status->height != height)) {
        snprintf(status->message, sizeof status->message, "header changed between reads");
        rc = CCODECS_CORRUPT;
    }
    if (rc == CCODECS_OK) rc = read_pixels(png, info, &s, out, width, height);
    free(s.native); free(s.rows);
    png_destroy_read_struct(&png, &info, NULL);
    return rc;
}
