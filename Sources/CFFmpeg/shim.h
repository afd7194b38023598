// FFmpeg 5.1 headers for Swift. Swift cannot import function-like macros
// (AVERROR, AVERROR_EOF, ...), so the few we need are wrapped as static inline
// functions with a `redact_av_` prefix.
#ifndef REDACT_CFFMPEG_SHIM_H
#define REDACT_CFFMPEG_SHIM_H

#include <errno.h>
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/dict.h>
#include <libswscale/swscale.h>

static inline int redact_av_error_eagain(void) { return AVERROR(EAGAIN); }
static inline int redact_av_error_eof(void) { return AVERROR_EOF; }
static inline int redact_av_error_enomem(void) { return AVERROR(ENOMEM); }
static inline int redact_av_error_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int64_t redact_av_nopts_value(void) { return AV_NOPTS_VALUE; }

// Human-readable text for an FFmpeg error code (av_err2str is a macro using a compound literal).
static inline void redact_av_strerror(int code, char *buffer, size_t size) {
    av_strerror(code, buffer, size);
}
#endif
