// TIFF (first directory) through libtiff, reading from memory with per-handle error handlers.
#include "ccodecs.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    toff_t pos;
    ccodecs_status *status;
    int errors;
} tiff_source;

static tmsize_t t_read(thandle_t h, void *buf, tmsize_t n) {
    tiff_source *s = (tiff_source *)h;
    if (n < 0) return -1;
    size_t left = s->pos < s->size ? s->size - (size_t)s->pos : 0;
    size_t take = (size_t)n < left ? (size_t)n : left;
    if (take) memcpy(buf, s->data + s->pos, take);
    s->pos += take;
    return (tmsize_t)take;
}
static tmsize_t t_write(thandle_t h, void *buf, tmsize_t n) { (void)h; (void)buf; (void)n; return -1; }
static toff_t t_seek(thandle_t h, toff_t off, int whence) {
    tiff_source *s = (tiff_source *)h;
    uint64_t base = whence == SEEK_SET ? 0 : (whence == SEEK_CUR ? s->pos : s->size);
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return (toff_t)-1;
    s->pos = base + off;
    return s->pos;
}
static int t_close(thandle_t h) { (void)h; return 0; }
static toff_t t_size(thandle_t h) { return ((tiff_source *)h)->size; }
static int t_map(thandle_t h, void **base, toff_t *size) { (void)h; (void)base; (void)size; return 0; }
static void t_unmap(thandle_t h, void *base, toff_t size) { (void)h; (void)base; (void)size; }

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)module;
    tiff_source *s = (tiff_source *)user;
    if (!s->errors) vsnprintf(s->status->message, sizeof s->status->message, fmt, ap);
    s->errors += 1;
    return 1;  // handled: libtiff's global handler (which prints) is not called
}
static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)module; (void)fmt; (void)ap;
    ((tiff_source *)user)->status->warnings += 1;
    return 1;
}

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void quiet(void) { TIFFSetErrorHandler(NULL); TIFFSetWarningHandler(NULL); }

static TIFF *tiff_open(tiff_source *s, const ccodecs_limits *limits) {
    pthread_once(&quiet_once, quiet);
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, s);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, s);
    int64_t cap = limits->max_pixels * 8;
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)(cap < (64 << 20) ? (64 << 20) : cap));
    TIFF *tif = TIFFClientOpenExt("tiff", "rm", (thandle_t)s, t_read, t_write, t_seek, t_close, t_size, t_map, t_unmap, opts);
    TIFFOpenOptionsFree(opts);
    return tif;
}

static int tiff_fail(tiff_source *s, const char *fallback) {
    if (!s->errors) snprintf(s->status->message, sizeof s->status->message, "%s", fallback);
    return s->pos >= s->size ? CCODECS_TRUNCATED : CCODECS_CORRUPT;
}

static int tiff_begin(TIFF **out, tiff_source *s, const ccodecs_limits *limits) {
    ccodecs_status *st = s->status;
    *out = tiff_open(s, limits);
    if (!*out) return tiff_fail(s, "cannot open TIFF");
    uint32_t w = 0, h = 0;
    uint16_t spp = 1;
    if (!TIFFGetField(*out, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(*out, TIFFTAG_IMAGELENGTH, &h)) {
        snprintf(st->message, sizeof st->message, "missing image width or length");
        return CCODECS_CORRUPT;
    }
    TIFFGetFieldDefaulted(*out, TIFFTAG_SAMPLESPERPIXEL, &spp);
    st->width = w;
    st->height = h;
    st->components = spp;
    if (ccodecs_exceeds(w, h, limits->max_pixels)) {
        snprintf(st->message, sizeof st->message, "image %ux%u exceeds the pixel limit %lld", w, h, (long long)limits->max_pixels);
        return CCODECS_TOO_LARGE;
    }
    if (w == 0 || h == 0) { snprintf(st->message, sizeof st->message, "image has size %ux%u", w, h); return CCODECS_CORRUPT; }
    return CCODECS_OK;
}

int ccodecs_tiff_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    tiff_source s = { data, size, 0, status, 0 };
    TIFF *tif = NULL;
    int rc = tiff_begin(&tif, &s, limits);
    if (tif) TIFFClose(tif);
    return rc;
}

// One decoded scanline (8-bit or 1-bit samples, contiguous) to RGB, with PIL's rules:
// MINISWHITE inverted ("L;I", "1;I"), extra samples dropped, palette entries >> 8.
static void convert_line(const uint8_t *in, uint8_t *dst, int w, int spp, int bps, int photo,
                         const uint16_t *r, const uint16_t *g, const uint16_t *b) {
    for (int x = 0; x < w; x++) {
        int v;
        if (bps == 1) v = (in[x >> 3] >> (7 - (x & 7))) & 1 ? 255 : 0;
        else v = in[x * spp];
        if (photo == PHOTOMETRIC_PALETTE) {
            int i = bps == 1 ? (v ? 1 : 0) : v;
            dst[3 * x] = (uint8_t)(r[i] >> 8); dst[3 * x + 1] = (uint8_t)(g[i] >> 8); dst[3 * x + 2] = (uint8_t)(b[i] >> 8);
        } else if (photo == PHOTOMETRIC_RGB) {
            dst[3 * x] = in[x * spp]; dst[3 * x + 1] = in[x * spp + 1]; dst[3 * x + 2] = in[x * spp + 2];
        } else {
            if (photo == PHOTOMETRIC_MINISWHITE) v = 255 - v;
            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = (uint8_t)v;
        }
    }
}

static int read_scanlines(TIFF *tif, tiff_source *s, uint8_t *out, int w, int h, int spp, int bps, int photo) {
    uint16_t *r = NULL, *g = NULL, *b = NULL;
    if (photo == PHOTOMETRIC_PALETTE && !TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b)) {
        snprintf(s->status->message, sizeof s->status->message, "palette TIFF without a colour map");
        return CCODECS_CORRUPT;
    }
    tmsize_t line = TIFFScanlineSize(tif);
    if (line <= 0) return tiff_fail(s, "bad scanline size");
    uint8_t *buf = (uint8_t *)_TIFFmalloc(line);
    if (!buf) return CCODECS_NO_MEMORY;
    int rc = CCODECS_OK;
    for (int y = 0; y < h; y++) {
        if (TIFFReadScanline(tif, buf, (uint32_t)y, 0) < 0) { rc = tiff_fail(s, "cannot read scanline"); break; }
        convert_line(buf, out + (size_t)y * (size_t)w * 3, w, spp, bps, photo, r, g, b);
    }
    _TIFFfree(buf);
    return rc;
}

// Everything else: libtiff's RGBA interface (its own colour conversions; may differ from PIL).
static int read_rgba(TIFF *tif, tiff_source *s, uint8_t *out, int w, int h) {
    char emsg[1024];
    if (!TIFFRGBAImageOK(tif, emsg)) {
        snprintf(s->status->message, sizeof s->status->message, "%s", emsg);
        return CCODECS_UNSUPPORTED;
    }
    uint32_t *raster = (uint32_t *)_TIFFmalloc((tmsize_t)w * h * (tmsize_t)sizeof(uint32_t));
    if (!raster) return CCODECS_NO_MEMORY;
    int rc = CCODECS_OK;
    if (!TIFFReadRGBAImageOriented(tif, (uint32_t)w, (uint32_t)h, raster, ORIENTATION_TOPLEFT, 1)) rc = tiff_fail(s, "cannot decode TIFF");
    else for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        out[3 * i] = (uint8_t)TIFFGetR(raster[i]); out[3 * i + 1] = (uint8_t)TIFFGetG(raster[i]); out[3 * i + 2] = (uint8_t)TIFFGetB(raster[i]);
    }
    _TIFFfree(raster);
    return rc;
}

int ccodecs_tiff_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                        uint8_t *out, int32_t width, int32_t height, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    tiff_source s = { data, size, 0, status, 0 };
    TIFF *tif = NULL;
    int rc = tiff_begin(&tif, &s, limits);
    if (rc == CCODECS_OK && (status->width != width || status->height != height)) rc = CCODECS_CORRUPT;
    if (rc) { if (tif) TIFFClose(tif); return rc; }
    uint16_t spp = 1, bps = 1, planar = PLANARCONFIG_CONTIG, photo = PHOTOMETRIC_MINISBLACK, compression = 1;
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    if (photo == PHOTOMETRIC_YCBCR && compression == COMPRESSION_JPEG) {
        TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);  // libjpeg does the YCbCr -> RGB
        photo = PHOTOMETRIC_RGB;
    }
    int gray = (photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE) && (spp == 1 || spp == 2);
    int rgb = photo == PHOTOMETRIC_RGB && (spp == 3 || spp == 4);
    int pal = photo == PHOTOMETRIC_PALETTE && spp == 1;
    int simple = !TIFFIsTiled(tif) && planar == PLANARCONFIG_CONTIG &&
                 ((bps == 8 && (gray || rgb || pal)) || (bps == 1 && spp == 1 && (gray || pal)));
    rc = simple ? read_scanlines(tif, &s, out, width, height, spp, bps, photo) : read_rgba(tif, &s, out, width, height);
    TIFFClose(tif);
    return rc;
}
