// Pure C interface to the few OpenCV 4.6 features redact uses.
//
// Rules (after swift-nio's C shims and gocv): every symbol is prefixed `rcv_`,
// OpenCV objects travel as opaque handles created by `*_new`/`*_open` and freed by
// `*_close`, and no C++ exception ever crosses this boundary: every entry point
// returns RCV_OK or an error code and writes a message into the caller's buffer.
#ifndef REDACT_CV_H
#define REDACT_CV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RCV_OK 0
#define RCV_ERR_ARGUMENT 1
#define RCV_ERR_OPENCV 2
#define RCV_ERR_UNKNOWN 3

/// Inference engines: OpenCV's DNN module, or OpenVINO's CPU plugin (when the build has it).
#define RCV_ENGINE_OPENCV 0
#define RCV_ENGINE_OPENVINO 1

/// Opaque handle around a network on one engine (a cv::dnn::Net or an OpenVINO model).
typedef struct rcv_net rcv_net;

/// Inference precision: the engine's fastest on this CPU (OpenVINO: bfloat16 where the CPU
/// computes it natively, AVX512-BF16 or AMX; else float32), or float32 everywhere.
#define RCV_PRECISION_AUTO 0
#define RCV_PRECISION_F32 1

/// Loads an ONNX model on `engine` (RCV_ENGINE_*) at `precision` (RCV_PRECISION_*; OpenCV
/// always computes in float32). On success *out is a handle to be released with rcv_net_close. `threads` is the engine's inference thread count for OpenVINO
/// (0: its own choice); OpenCV's is process-wide (rcv_set_num_threads).
int rcv_net_open_onnx_engine(const char *path, int engine, int threads, int precision, rcv_net **out, char *err,
                             size_t err_len);
void rcv_net_close(rcv_net *net);

/// 1 if this build can run `engine`, else 0.
int rcv_engine_available(int engine);

/// Writes the engine's version (e.g. "4.6.0", or OpenVINO's build number) into buf; "" when the
/// build lacks the engine.
void rcv_engine_version(int engine, char *buf, size_t buf_len);

/// Writes the precision `engine` computes in for `precision` (RCV_PRECISION_*) on this CPU into
/// buf, as the engine names it ("f32", "bf16", ...); "" when it cannot tell.
void rcv_engine_precision(int engine, int precision, char *buf, size_t buf_len);

/// Runs the network on one packed 8-bit, 3-channel image (channel order as given:
/// the model sees the bytes as they are; no scaling, no mean). The image size is the
/// network input size. Output blobs are requested by name; output i is copied (as
/// float32, C order) into outputs[i], which has room for output_capacity[i] floats;
/// its element count is written to output_count[i].
int rcv_net_forward(rcv_net *net,
                    const uint8_t *pixels, int width, int height, int stride,
                    const char *const *output_names, int output_len,
                    float *const *outputs, const size_t *output_capacity, size_t *output_count,
                    char *err, size_t err_len);

/// Sets OpenCV's worker thread count (0: OpenCV's default).
int rcv_set_num_threads(int threads, char *err, size_t err_len);

/// Turns transparent huge pages off for this process and the processes it starts
/// (prctl PR_SET_THP_DISABLE, Linux 3.15 and later). Returns 0, or the errno of a failure.
/// Not OpenCV's: here because Swift cannot call prctl, a variadic C function.
int rcv_disable_transparent_huge_pages(void);

/// Rotates a packed 8-bit, 3-channel image clockwise by quarter_turns * 90 degrees
/// into dst (which must hold the rotated image, rows of dst_stride bytes).
int rcv_rotate_rgb(const uint8_t *src, int width, int height, int src_stride,
                   uint8_t *dst, int dst_stride, int quarter_turns,
                   char *err, size_t err_len);

/// Gaussian-blurs the rectangle (x, y, w, h) of one 8-bit plane in place.
int rcv_blur_plane(uint8_t *plane, int plane_width, int plane_height, int stride,
                   int x, int y, int w, int h, double sigma,
                   char *err, size_t err_len);

/// Converts the top-left width x height region of a packed RGB image to 8-bit grey resized to
/// dst_width x dst_height (area interpolation), into dst (rows of dst_stride bytes).
int rcv_rgb_to_gray_resized(const uint8_t *src, int width, int height, int src_stride,
                            uint8_t *dst, int dst_width, int dst_height, int dst_stride,
                            char *err, size_t err_len);

/// Copies a scaled window of a packed 8-bit, 3-channel image into dst (dst_width x dst_height,
/// rows of dst_stride bytes): dst pixel (u, v) shows source point (x + u / scale, y + v / scale),
/// bilinear when enlarging, area-averaged when shrinking. The window may reach past the image:
/// those pixels are black, as in the detector's letterbox.
int rcv_crop_scaled_rgb(const uint8_t *src, int width, int height, int src_stride,
                        double x, double y, double scale,
                        uint8_t *dst, int dst_width, int dst_height, int dst_stride,
                        char *err, size_t err_len);

/// Follows boxes from one grey frame to the next with pyramidal Lucas-Kanade optical flow
/// (OpenCV calcOpticalFlowPyrLK). Both images are 8-bit, width x height, rows of `stride`
/// bytes. boxes_in holds count boxes as x, y, w, h (pixels of these images); for each box a
/// grid of points inside it is tracked forward and back, points whose round trip misses by more
/// than a pixel are dropped, and the box moves by the median motion of the rest and scales by
/// the median change of their spread. boxes_out receives the moved boxes; ok[i] is 1 when
/// enough points survived, else 0 (boxes_out[i] is then a copy of the input box).
int rcv_flow_track_boxes(const uint8_t *prev, const uint8_t *next, int width, int height, int stride,
                         const float *boxes_in, int count, float *boxes_out, uint8_t *ok,
                         char *err, size_t err_len);

/// Like rcv_net_forward for one output, with per-channel input normalisation: `pixels` is packed
/// RGB; with swap_rb the network's channels are B, G, R, else R, G, B, and network channel c
/// sees (byte - mean[c]) * scale[c] (e.g. PaddleOCR's detector input, BGR with mean
/// 255 * (0.485, 0.456, 0.406) and scale 1 / (255 * (0.229, 0.224, 0.225)) in that order).
int rcv_net_forward_normalized(rcv_net *net,
                               const uint8_t *pixels, int width, int height, int stride,
                               const double mean[3], const double scale[3], int swap_rb,
                               const char *output_name,
                               float *output, size_t output_capacity, size_t *output_count,
                               char *err, size_t err_len);

/// Boxes from a text probability map (DB post-processing): the top-left valid_width x
/// valid_height region of the width x height float map (rows of `stride` floats) is thresholded
/// at bin_threshold, dilated 2x2, and split into contours; a contour whose bounding box has a
/// side under min_side or whose mean probability is under box_threshold is dropped; the others
/// are grown by area * unclip_ratio / perimeter of their minimum-area rectangle, clipped to the
/// valid region. Up to `capacity` boxes (x, y, w, h, score: 5 floats each, map pixels) are
/// written, best score first; *count receives how many.
int rcv_prob_map_boxes(const float *prob, int width, int height, int stride,
                       int valid_width, int valid_height,
                       double bin_threshold, double box_threshold, double unclip_ratio, double min_side,
                       float *boxes, int capacity, int *count,
                       char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
