// OpenCV behind the C header redact_cv.h. Every entry point catches everything.
#include "redact_cv.h"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include <cstring>
#include <exception>
#include <string>

struct rcv_net {
    cv::dnn::Net net;
};

namespace {
void write_error(char *err, size_t err_len, const std::string &message) {
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
}  // namespace

extern "C" int rcv_net_open_onnx(const char *path, rcv_net **out, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (path == nullptr || out == nullptr) {
            write_error(err, err_len, "null argument");
            return RCV_ERR_ARGUMENT;
        }
        *out = nullptr;
        cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
        if (net.empty()) {
            write_error(err, err_len, std::string("model loaded empty: ") + path);
            return RCV_ERR_OPENCV;
        }
        net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        *out = new rcv_net{net};
        return RCV_OK;
    });
}

extern "C" void rcv_net_close(rcv_net *net) {
    try {
        delete net;
    } catch (...) {
    }
}

extern "C" int rcv_net_forward(rcv_net *net, const uint8_t *pixels, int width, int height, int stride,
                               const char *const *output_names, int output_len, float *const *outputs,
                               const size_t *output_capacity, size_t *output_count, char *err,
                               size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (net == nullptr || pixels == nullptr || width <= 0 || height <= 0 || stride < width * 3 ||
            output_names == nullptr || output_len <= 0 || outputs == nullptr || output_capacity == nullptr ||
            output_count == nullptr) {
            write_error(err, err_len, "invalid argument to rcv_net_forward");
            return RCV_ERR_ARGUMENT;
        }
        cv::Mat image(height, width, CV_8UC3, const_cast<uint8_t *>(pixels), static_cast<size_t>(stride));
        cv::Mat blob = cv::dnn::blobFromImage(image, 1.0, cv::Size(width, height), cv::Scalar(), false, false,
                                              CV_32F);
        net->net.setInput(blob);
        std::vector<cv::String> names;
        for (int i = 0; i < output_len; i++) names.emplace_back(output_names[i]);
        std::vector<cv::Mat> results;
        net->net.forward(results, names);
        if (static_cast<int>(results.size()) != output_len) {
            write_error(err, err_len, "network returned a different number of outputs");
            return RCV_ERR_OPENCV;
        }
        for (int i = 0; i < output_len; i++) {
            cv::Mat result = results[i];
            if (result.type() != CV_32F) result.convertTo(result, CV_32F);
            if (!result.isContinuous()) result = result.clone();
            size_t count = result.total();
            output_count[i] = count;
            if (count > output_capacity[i]) {
                write_error(err, err_len, "output buffer too small for " + names[i]);
                return RCV_ERR_ARGUMENT;
            }
            std::memcpy(outputs[i], result.ptr<float>(), count * sizeof(float));
        }
        return RCV_OK;
    });
}

extern "C" int rcv_set_num_threads(int threads, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        cv::setNumThreads(threads <= 0 ? -1 : threads);
        return RCV_OK;
    });
}

extern "C" int rcv_rotate_rgb(const uint8_t *src, int width, int height, int src_stride, uint8_t *dst,
                              int dst_stride, int quarter_turns, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (src == nullptr || dst == nullptr || width <= 0 || height <= 0) {
            write_error(err, err_len, "invalid argument to rcv_rotate_rgb");
            return RCV_ERR_ARGUMENT;
        }
        int turns = ((quarter_turns % 4) + 4) % 4;
        bool swapped = turns % 2 == 1;
        cv::Mat in(height, width, CV_8UC3, const_cast<uint8_t *>(src), static_cast<size_t>(src_stride));
        cv::Mat out(swapped ? width : height, swapped ? height : width, CV_8UC3, dst,
                    static_cast<size_t>(dst_stride));
        switch (turns) {
            case 0: in.copyTo(out); break;
            case 1: cv::rotate(in, out, cv::ROTATE_90_CLOCKWISE); break;
            case 2: cv::rotate(in, out, cv::ROTATE_180); break;
            case 3: cv::rotate(in, out, cv::ROTATE_90_COUNTERCLOCKWISE); break;
        }
        if (out.data != dst) {
            write_error(err, err_len, "rotation reallocated its output");
            return RCV_ERR_OPENCV;
        }
        return RCV_OK;
    });
}

extern "C" int rcv_blur_plane(uint8_t *plane, int plane_width, int plane_height, int stride, int x, int y, int w,
                              int h, double sigma, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (plane == nullptr || plane_width <= 0 || plane_height <= 0 || sigma <= 0) {
            write_error(err, err_len, "invalid argument to rcv_blur_plane");
            return RCV_ERR_ARGUMENT;
        }
        cv::Rect frame(0, 0, plane_width, plane_height);
        cv::Rect box = cv::Rect(x, y, w, h) & frame;
        if (box.empty()) return RCV_OK;
        cv::Mat whole(plane_height, plane_width, CV_8UC1, plane, static_cast<size_t>(stride));
        cv::Mat region = whole(box);
        cv::Mat blurred;
        cv::GaussianBlur(region, blurred, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
        blurred.copyTo(region);
        return RCV_OK;
    });
}
