// WebP still images through libwebp's decoder.
#include "ccodecs.h"

#include <stdio.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

static int webp_features(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                         ccodecs_status *st, WebPBitstreamFeatures *f) {
    VP8StatusCode rc = WebPGetFeatures(data, size, f);
    if (rc == VP8_STATUS_NOT_ENOUGH_DATA) { snprintf(st->message, sizeof st->message, "header incomplete"); return CCODECS_TRUNCATED; }
    if (rc != VP8_STATUS_OK) { snprintf(st->message, sizeof st->message, "invalid WebP header (libwebp status %d)", (int)rc); return CCODECS_CORRUPT; }
    st->width = f->width;
    st->height = f->height;
    st->components = f->has_alpha ? 4 : 3;
    if (ccodecs_exceeds((uint32_t)f->width, (uint32_t)f->height, limits->max_pixels)) {
        snprintf(st->message, sizeof st->message, "image %dx%d exceeds the pixel limit %lld", f->width, f->height, (long long)limits->max_pixels);
        return CCODECS_TOO_LARGE;
    }
    return CCODECS_OK;
}

// Animated WebP: frame 0 composed on the canvas by libwebpdemux's WebPAnimDecoder (RGBA,
// not premultiplied; uncovered canvas is transparent black), alpha then dropped, as PIL shows frame 0.
static int webp_first_frame(const uint8_t *data, size_t size, uint8_t *out, int width, int height, ccodecs_status *st) {
    WebPData wd = { data, size };
    WebPAnimDecoderOptions opts;
    if (!WebPAnimDecoderOptionsInit(&opts)) return CCODECS_NO_MEMORY;
    opts.color_mode = MODE_RGBA;
    opts.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opts);
    if (!dec) { snprintf(st->message, sizeof st->message, "invalid animated WebP"); return CCODECS_CORRUPT; }
    WebPAnimInfo info;
    uint8_t *canvas = NULL;
    int ts = 0, rc = CCODECS_OK;
    if (!WebPAnimDecoderGetInfo(dec, &info) || (int)info.canvas_width != width || (int)info.canvas_height != height) {
        snprintf(st->message, sizeof st->message, "animation canvas does not match the header");
        rc = CCODECS_CORRUPT;
    } else if (!WebPAnimDecoderGetNext(dec, &canvas, &ts) || !canvas) {
        snprintf(st->message, sizeof st->message, "cannot decode the first animation frame");
        rc = CCODECS_CORRUPT;
    } else {
        for (size_t i = 0; i < (size_t)width * (size_t)height; i++) memcpy(out + 3 * i, canvas + 4 * i, 3);
    }
    WebPAnimDecoderDelete(dec);
    return rc;
}

int ccodecs_webp_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    WebPBitstreamFeatures f;
    return webp_features(data, size, limits, status, &f);
}

int ccodecs_webp_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                        uint8_t *out, int32_t width, int32_t height, ccodecs_status *status) {
    memset(status, 0, sizeof *status);
    WebPBitstreamFeatures f;
    int rc = webp_features(data, size, limits, status, &f);
    if (rc) return rc;
    if (f.width != width || f.height != height) { snprintf(status->message, sizeof status->message, "header changed between reads"); return CCODECS_CORRUPT; }
    if (f.has_animation) return webp_first_frame(data, size, out, width, height, status);
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) return CCODECS_NO_MEMORY;
    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out;
    config.output.u.RGBA.stride = width * 3;
    config.output.u.RGBA.size = (size_t)width * (size_t)height * 3;
    VP8StatusCode s = WebPDecode(data, size, &config);
    WebPFreeDecBuffer(&config.output);
    if (s == VP8_STATUS_OK) return CCODECS_OK;
    if (s == VP8_STATUS_NOT_ENOUGH_DATA) { snprintf(status->message, sizeof status->message, "image data incomplete"); return CCODECS_TRUNCATED; }
    snprintf(status->message, sizeof status->message, "libwebp status %d", (int)s);
    return s == VP8_STATUS_UNSUPPORTED_FEATURE ? CCODECS_UNSUPPORTED : CCODECS_CORRUPT;
}
