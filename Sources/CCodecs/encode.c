// JPEG (libjpeg-turbo) and PNG (libpng) encoders for 8-bit RGB.
#include "ccodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

void ccodecs_free(void *p) { free(p); }

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    ccodecs_status *status;
} enc_guard;

static void enc_error(j_common_ptr cinfo) {
    enc_guard *g = (enc_guard *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, g->status->message);
    longjmp(g->jump, 1);
}

static void enc_message(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

int ccodecs_jpeg_encode(const uint8_t *rgb, int32_t width, int32_t height, int32_t quality,
                        uint8_t **out, size_t *out_size, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    struct jpeg_compress_struct cinfo;
    enc_guard g;
    // libjpeg grows the buffer with malloc/free through these two (volatile: read after longjmp).
    unsigned char *volatile buffer = NULL;
    unsigned long volatile size = 0;
    cinfo.err = jpeg_std_error(&g.pub);
    g.pub.error_exit = enc_error;
    g.pub.emit_message = enc_message;
    g.status = status;
    if (setjmp(g.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return CCODECS_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, (unsigned long *)&size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.optimize_coding = FALSE;
    // 4:2:0: luma 2x2, chroma 1x1 (jpeg_set_defaults' YCbCr default, set explicitly as PIL does).
    cinfo.comp_info[0].h_samp_factor = 2; cinfo.comp_info[0].v_samp_factor = 2;
    cinfo.comp_info[1].h_samp_factor = 1; cinfo.comp_info[1].v_samp_factor = 1;
    cinfo.comp_info[2].h_samp_factor = 1; cinfo.comp_info[2].v_samp_factor = 1;
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *out_size = size;
    return CCODECS_OK;
}

typedef struct {
    uint8_t *data;
    size_t size, capacity;
    int failed;
    ccodecs_status *status;
} png_sink;

static void sink_write(png_structp png, png_bytep bytes, size_t n) {
    png_sink *s = (png_sink *)png_get_io_ptr(png);
    if (s->size + n > s->capacity) {
        size_t cap = s->capacity ? s->capacity : 4096;
        while (cap < s->size + n) cap *= 2;
        uint8_t *p = (uint8_t *)realloc(s->data, cap);
        if (!p) { s->failed = 1; png_error(png, "out of memory"); }
        s->data = p;
        s->capacity = cap;
    }
    memcpy(s->data + s->size, bytes, n);
    s->size += n;
}

static void sink_flush(png_structp png) { (void)png; }

static void penc_error(png_structp png, png_const_charp msg) {
    png_sink *s = (png_sink *)png_get_error_ptr(png);
    snprintf(s->status->message, sizeof s->status->message, "%s", msg);
    png_longjmp(png, 1);
}

static void penc_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

int ccodecs_png_encode(const uint8_t *rgb, int32_t width, int32_t height,
                       uint8_t **out, size_t *out_size, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    png_sink s = { NULL, 0, 0, 0, status };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, penc_error, penc_warning);
    if (!png) return CCODECS_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_write_struct(&png, NULL); return CCODECS_NO_MEMORY; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(s.data);
        return CCODECS_CORRUPT;
    }
    png_set_write_fn(png, &s, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    for (int32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * (size_t)width * 3));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = s.data;
    *out_size = s.size;
    return CCODECS_OK;
}
