// OpenCV behind the C header redact_cv.h. Every entry point catches everything.
#include "redact_cv.h"
#include "redact_cv_internal.hpp"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include <cstring>
#include <exception>
#include <memory>
#include <string>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

using rcv_internal::guarded;
using rcv_internal::write_error;

extern "C" int rcv_net_open_onnx_engine(const char *path, int engine, int threads, int precision, rcv_net **out,
                                        char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (path == nullptr || out == nullptr || threads < 0 ||
            (precision != RCV_PRECISION_AUTO && precision != RCV_PRECISION_F32)) {
            write_error(err, err_len, "invalid argument to rcv_net_open_onnx_engine");
            return RCV_ERR_ARGUMENT;
        }
        *out = nullptr;
        auto net = std::make_unique<rcv_net>();
        net->engine = engine;
        switch (engine) {
            case RCV_ENGINE_OPENCV:
                net->net = cv::dnn::readNetFromONNX(path);
                if (net->net.empty()) {
                    write_error(err, err_len, std::string("model loaded empty: ") + path);
                    return RCV_ERR_OPENCV;
                }
                net->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
                net->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
                break;
            case RCV_ENGINE_OPENVINO:
                net->openvino.reset(rcv_internal::openvino_open(path, threads, precision));
                break;
            default:
                write_error(err, err_len, "unknown inference engine " + std::to_string(engine));
                return RCV_ERR_ARGUMENT;
        }
        *out = net.release();
        return RCV_OK;
    });
}

extern "C" void rcv_net_close(rcv_net *net) {
    try {
        delete net;
    } catch (...) {
    }
}

extern "C" int rcv_engine_available(int engine) {
    if (engine == RCV_ENGINE_OPENCV) return 1;
    if (engine == RCV_ENGINE_OPENVINO) return rcv_internal::openvino_version().empty() ? 0 : 1;
    return 0;
}

extern "C" void rcv_engine_version(int engine, char *buf, size_t buf_len) {
    try {
        std::string version;
        if (engine == RCV_ENGINE_OPENCV) version = CV_VERSION;
        if (engine == RCV_ENGINE_OPENVINO) version = rcv_internal::openvino_version();
        write_error(buf, buf_len, version);
    } catch (...) {
        write_error(buf, buf_len, "");
    }
}

extern "C" void rcv_engine_precision(int engine, int precision, char *buf, size_t buf_len) {
    try {
        std::string name;
        if (engine == RCV_ENGINE_OPENCV) name = "f32";
        if (engine == RCV_ENGINE_OPENVINO) name = rcv_internal::openvino_precision(precision);
        write_error(buf, buf_len, name);
    } catch (...) {
        write_error(buf, buf_len, "");
    }
}

void rcv_internal::image_blob(cv::Mat &blob, const uint8_t *pixels, int width, int height, int stride,
                              const double mean[3], const double scale[3], bool swap_rb) {
    const int dims[4] = {1, 3, height, width};
    blob.create(4, dims, CV_32F);
    const size_t plane = static_cast<size_t>(width) * height;
    float *dst = blob.ptr<float>();
    for (int c = 0; c < 3; ++c) {
        const int source = swap_rb ? 2 - c : c;
        const float m = static_cast<float>(mean[c]), k = static_cast<float>(scale[c]);
        float *out = dst + c * plane;
        for (int y = 0; y < height; ++y) {
            const uint8_t *row = pixels + static_cast<size_t>(y) * stride;
            float *line = out + static_cast<size_t>(y) * width;
            for (int x = 0; x < width; ++x) line[x] = (row[3 * x + source] - m) * k;
        }
    }
}

std::vector<cv::Mat> rcv_internal::forward_blob(rcv_net &net, const cv::Mat &blob,
                                                const std::vector<std::string> &names) {
    if (net.engine == RCV_ENGINE_OPENVINO) return openvino_forward(*net.openvino, blob, names);
    net.net.setInput(blob);
    std::vector<cv::String> cvNames(names.begin(), names.end());
    std::vector<cv::Mat> results;
    net.net.forward(results, cvNames);
    return results;
}

bool rcv_internal::copy_output(const cv::Mat &result, const std::string &name, float *out, size_t capacity,
                               size_t *count, char *err, size_t err_len) {
    cv::Mat values = result;
    if (values.type() != CV_32F) values.convertTo(values, CV_32F);
    if (!values.isContinuous()) values = values.clone();
    *count = values.total();
    if (*count > capacity) {
        write_error(err, err_len, "output buffer too small for " + name);
        return false;
    }
    std::memcpy(out, values.ptr<float>(), *count * sizeof(float));
    return true;
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
        // The bytes as they are: no mean, unit scale, channels in the given order. OpenVINO takes
        // the bytes themselves (its model converts them); OpenCV's DNN a float32 blob.
        std::vector<std::string> names(output_names, output_names + output_len);
        std::vector<cv::Mat> results;
        if (net->engine == RCV_ENGINE_OPENVINO) {
            results = rcv_internal::openvino_forward_pixels(*net->openvino, pixels, width, height, stride, names);
        } else {
            static const double zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
            rcv_internal::image_blob(net->blob, pixels, width, height, stride, zero, one, false);
            results = rcv_internal::forward_blob(*net, net->blob, names);
        }
        if (static_cast<int>(results.size()) != output_len) {
            write_error(err, err_len, "network returned a different number of outputs");
            return RCV_ERR_OPENCV;
        }
        for (int i = 0; i < output_len; i++) {
            if (!rcv_internal::copy_output(results[i], names[i], outputs[i], output_capacity[i], &output_count[i], err,
                                           err_len))
                return RCV_ERR_ARGUMENT;
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

extern "C" int rcv_disable_transparent_huge_pages(void) {
#if defined(__linux__) && defined(PR_SET_THP_DISABLE)
    return prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 ? 0 : errno;
#else
    return ENOSYS;
#endif
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

extern "C" int rcv_rgb_to_gray_resized(const uint8_t *src, int width, int height, int src_stride, uint8_t *dst,
                                       int dst_width, int dst_height, int dst_stride, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (src == nullptr || dst == nullptr || width <= 0 || height <= 0 || dst_width <= 0 || dst_height <= 0) {
            write_error(err, err_len, "invalid argument to rcv_rgb_to_gray_resized");
            return RCV_ERR_ARGUMENT;
        }
        cv::Mat in(height, width, CV_8UC3, const_cast<uint8_t *>(src), static_cast<size_t>(src_stride));
        cv::Mat out(dst_height, dst_width, CV_8UC1, dst, static_cast<size_t>(dst_stride));
        cv::Mat gray;
        cv::cvtColor(in, gray, cv::COLOR_RGB2GRAY);
        if (gray.size() == out.size()) {
            gray.copyTo(out);
        } else {
            cv::resize(gray, out, out.size(), 0, 0, cv::INTER_AREA);
        }
        if (out.data != dst) {
            write_error(err, err_len, "grey conversion reallocated its output");
            return RCV_ERR_OPENCV;
        }
        return RCV_OK;
    });
}

extern "C" int rcv_crop_scaled_rgb(const uint8_t *src, int width, int height, int src_stride, double x, double y,
                                   double scale, uint8_t *dst, int dst_width, int dst_height, int dst_stride,
                                   char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (src == nullptr || dst == nullptr || width <= 0 || height <= 0 || dst_width <= 0 || dst_height <= 0 ||
            !(scale > 0) || !std::isfinite(x) || !std::isfinite(y)) {
            write_error(err, err_len, "invalid argument to rcv_crop_scaled_rgb");
            return RCV_ERR_ARGUMENT;
        }
        cv::Mat in(height, width, CV_8UC3, const_cast<uint8_t *>(src), static_cast<size_t>(src_stride));
        cv::Mat out(dst_height, dst_width, CV_8UC3, dst, static_cast<size_t>(dst_stride));
        out.setTo(cv::Scalar::all(0));
        // The part of the window inside the image, in source pixels, and where it lands in dst.
        double x1 = x + dst_width / scale, y1 = y + dst_height / scale;
        int sx0 = std::max(0, static_cast<int>(std::floor(x))), sy0 = std::max(0, static_cast<int>(std::floor(y)));
        int sx1 = std::min(width, static_cast<int>(std::ceil(x1))), sy1 = std::min(height, static_cast<int>(std::ceil(y1)));
        if (sx1 <= sx0 || sy1 <= sy0) return RCV_OK;
        int dx0 = std::max(0, static_cast<int>(std::lround((sx0 - x) * scale)));
        int dy0 = std::max(0, static_cast<int>(std::lround((sy0 - y) * scale)));
        int dx1 = std::min(dst_width, static_cast<int>(std::lround((sx1 - x) * scale)));
        int dy1 = std::min(dst_height, static_cast<int>(std::lround((sy1 - y) * scale)));
        if (dx1 <= dx0 || dy1 <= dy0) return RCV_OK;
        cv::Mat roi = out(cv::Rect(dx0, dy0, dx1 - dx0, dy1 - dy0));
        cv::resize(in(cv::Rect(sx0, sy0, sx1 - sx0, sy1 - sy0)), roi, roi.size(), 0, 0,
                   scale >= 1 ? cv::INTER_LINEAR : cv::INTER_AREA);
        if (out.data != dst) {
            write_error(err, err_len, "window copy reallocated its output");
            return RCV_ERR_OPENCV;
        }
        return RCV_OK;
    });
}

namespace {
float median(std::vector<float> v) {
    if (v.empty()) return 0;
    size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + mid, v.end());
    return v[mid];
}
}  // namespace

extern "C" int rcv_flow_track_boxes(const uint8_t *prev, const uint8_t *next, int width, int height, int stride,
                                    const float *boxes_in, int count, float *boxes_out, uint8_t *ok, char *err,
                                    size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (prev == nullptr || next == nullptr || width <= 0 || height <= 0 || stride < width || count < 0 ||
            (count > 0 && (boxes_in == nullptr || boxes_out == nullptr || ok == nullptr))) {
            write_error(err, err_len, "invalid argument to rcv_flow_track_boxes");
            return RCV_ERR_ARGUMENT;
        }
        if (count == 0) return RCV_OK;
        cv::Mat a(height, width, CV_8UC1, const_cast<uint8_t *>(prev), static_cast<size_t>(stride));
        cv::Mat b(height, width, CV_8UC1, const_cast<uint8_t *>(next), static_cast<size_t>(stride));
        const int grid = 8;
        std::vector<cv::Point2f> points;
        std::vector<int> owner;
        for (int i = 0; i < count; i++) {
            const float *box = boxes_in + 4 * i;
            for (int gy = 0; gy < grid; gy++) {
                for (int gx = 0; gx < grid; gx++) {
                    float x = box[0] + box[2] * (gx + 0.5f) / grid;
                    float y = box[1] + box[3] * (gy + 0.5f) / grid;
                    if (x < 0 || y < 0 || x > width - 1 || y > height - 1) continue;
                    points.emplace_back(x, y);
                    owner.push_back(i);
                }
            }
        }
        for (int i = 0; i < count; i++) {
            std::copy(boxes_in + 4 * i, boxes_in + 4 * i + 4, boxes_out + 4 * i);
            ok[i] = 0;
        }
        if (points.empty()) return RCV_OK;
        std::vector<cv::Point2f> forward, back;
        std::vector<uchar> st1, st2;
        std::vector<float> e1, e2;
        cv::Size window(15, 15);
        cv::TermCriteria term(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 20, 0.03);
        cv::calcOpticalFlowPyrLK(a, b, points, forward, st1, e1, window, 3, term);
        cv::calcOpticalFlowPyrLK(b, a, forward, back, st2, e2, window, 3, term);
        for (int i = 0; i < count; i++) {
            std::vector<float> dx, dy;
            std::vector<cv::Point2f> from, to;
            for (size_t k = 0; k < points.size(); k++) {
                if (owner[k] != i || !st1[k] || !st2[k]) continue;
                float fb = std::hypot(back[k].x - points[k].x, back[k].y - points[k].y);
                if (fb > 1.0f) continue;
                dx.push_back(forward[k].x - points[k].x);
                dy.push_back(forward[k].y - points[k].y);
                from.push_back(points[k]);
                to.push_back(forward[k]);
            }
            if (dx.size() < 6) continue;
            float mx = median(dx), my = median(dy);
            // Scale: median ratio of distances between point pairs after and before.
            std::vector<float> ratios;
            for (size_t p = 0; p + 1 < from.size(); p += 1) {
                size_t q = (p * 7 + 3) % from.size();
                if (q == p) continue;
                float d0 = std::hypot(from[p].x - from[q].x, from[p].y - from[q].y);
                float d1 = std::hypot(to[p].x - to[q].x, to[p].y - to[q].y);
                if (d0 > 2.0f) ratios.push_back(d1 / d0);
            }
            float scale = ratios.empty() ? 1.0f : std::min(1.2f, std::max(0.8f, median(ratios)));
            const float *box = boxes_in + 4 * i;
            float cx = box[0] + box[2] / 2 + mx, cy = box[1] + box[3] / 2 + my;
            float w = box[2] * scale, h = box[3] * scale;
            float *out = boxes_out + 4 * i;
            out[0] = cx - w / 2;
            out[1] = cy - h / 2;
            out[2] = w;
            out[3] = h;
            ok[i] = 1;
        }
        return RCV_OK;
    });
}
