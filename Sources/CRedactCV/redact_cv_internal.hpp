// Shared by the C++ files behind redact_cv.h (never seen by Swift): the network handle's
// layout, the engine-independent forward pass, and the guard that turns every C++ exception
// into an error code and message.
#ifndef REDACT_CV_INTERNAL_HPP
#define REDACT_CV_INTERNAL_HPP

#include "redact_cv.h"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace rcv_internal {
/// One ONNX model on OpenVINO's CPU plugin (redact_cv_openvino.cpp); null in builds without it.
struct OpenVINOModel;
struct OpenVINOModelDeleter {
    void operator()(OpenVINOModel *model) const;
};
}  // namespace rcv_internal

/// A network on one engine: `net` for RCV_ENGINE_OPENCV, `openvino` for RCV_ENGINE_OPENVINO.
struct rcv_net {
    int engine = RCV_ENGINE_OPENCV;
    cv::dnn::Net net;
    std::unique_ptr<rcv_internal::OpenVINOModel, rcv_internal::OpenVINOModelDeleter> openvino;
    /// The input blob, reused run after run (a network sees one input size, or a few): a fresh
    /// 11 MB blob per 1280x736 run was page-faulted in anew each time.
    cv::Mat blob;
};

namespace rcv_internal {
/// Loads `path` on OpenVINO's CPU plugin with `threads` inference threads (0: OpenVINO's choice)
/// at `precision` (RCV_PRECISION_*). Throws std::runtime_error when OpenVINO fails or the build
/// has no OpenVINO.
OpenVINOModel *openvino_open(const char *path, int threads, int precision);
/// Runs an OpenVINO model on one NCHW float32 blob; returns the named outputs as float32 Mats
/// over the request's own output memory: valid until the same shape's next run.
std::vector<cv::Mat> openvino_forward(OpenVINOModel &model, const cv::Mat &blob, const std::vector<std::string> &names);
/// The same on packed 8-bit pixels (rows of width x 3 bytes, `stride` == width * 3), each byte
/// the network's input value as it is: the model converts them itself. A model runs either on
/// blobs or on pixels, whichever its first run used.
std::vector<cv::Mat> openvino_forward_pixels(OpenVINOModel &model, const uint8_t *pixels, int width, int height,
                                             int stride, const std::vector<std::string> &names);
/// OpenVINO's build number, or "" when the build has none.
std::string openvino_version();
/// The precision the CPU plugin computes in for `precision` on this CPU ("f32", "bf16", ...).
std::string openvino_precision(int precision);

/// Packs an 8-bit, 3-channel image into a 1x3xHxW float32 blob: network channel c is source
/// channel (swap_rb ? 2 - c : c), as (byte - mean[c]) * scale[c].
/// `blob` is (re)allocated only when its size changes.
void image_blob(cv::Mat &blob, const uint8_t *pixels, int width, int height, int stride, const double mean[3],
                const double scale[3], bool swap_rb);
/// Runs `net` (either engine) on `blob` and returns the named outputs as float32 Mats.
std::vector<cv::Mat> forward_blob(rcv_net &net, const cv::Mat &blob, const std::vector<std::string> &names);
/// Copies a float32 Mat into a caller buffer of `capacity` floats; false (and an error) if it is too small.
bool copy_output(const cv::Mat &result, const std::string &name, float *out, size_t capacity, size_t *count,
                 char *err, size_t err_len);

inline void write_error(char *err, size_t err_len, const std::string &message) {
    if (err == nullptr || err_len == 0) return;
    size_t n = message.size() < err_len - 1 ? message.size() : err_len - 1;
    std::memcpy(err, message.data(), n);
    err[n] = '\0';
}

// Runs body, turning any exception into an error code and message.
template <typename Body>
int guarded(char *err, size_t err_len, Body body) {
    try {
        return body();
    } catch (const cv::Exception &e) {
        write_error(err, err_len, std::string("OpenCV: ") + e.what());
        return RCV_ERR_OPENCV;
    } catch (const std::exception &e) {
        write_error(err, err_len, e.what());
        return RCV_ERR_UNKNOWN;
    } catch (...) {
        write_error(err, err_len, "unknown C++ exception");
        return RCV_ERR_UNKNOWN;
    }
}
}  // namespace rcv_internal
#endif
