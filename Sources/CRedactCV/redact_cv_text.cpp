// Text (licence plate) detection helpers behind redact_cv.h: a normalised forward pass for
// networks that expect (pixel - mean) * scale input, and the post-processing of a DB
// (differentiable binarisation) probability map into boxes. Every entry point catches everything.
#include "redact_cv.h"
#include "redact_cv_internal.hpp"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

using rcv_internal::guarded;
using rcv_internal::write_error;

extern "C" int rcv_net_forward_normalized(rcv_net *net, const uint8_t *pixels, int width, int height, int stride,
                                          const double mean[3], const double scale[3], int swap_rb,
                                          const char *output_name, float *output, size_t output_capacity,
                                          size_t *output_count, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (net == nullptr || pixels == nullptr || width <= 0 || height <= 0 || stride < width * 3 ||
            mean == nullptr || scale == nullptr || output_name == nullptr || output == nullptr ||
            output_count == nullptr) {
            write_error(err, err_len, "invalid argument to rcv_net_forward_normalized");
            return RCV_ERR_ARGUMENT;
        }
        // Written directly: blobFromImage takes one scale for all channels.
        rcv_internal::image_blob(net->blob, pixels, width, height, stride, mean, scale, swap_rb != 0);
        std::vector<cv::Mat> results = rcv_internal::forward_blob(*net, net->blob, {output_name});
        if (results.size() != 1) {
            write_error(err, err_len, "network returned a different number of outputs");
            return RCV_ERR_OPENCV;
        }
        if (!rcv_internal::copy_output(results[0], output_name, output, output_capacity, output_count, err, err_len))
            return RCV_ERR_ARGUMENT;
        return RCV_OK;
    });
}

extern "C" int rcv_prob_map_boxes(const float *prob, int width, int height, int stride, int valid_width,
                                  int valid_height, double bin_threshold, double box_threshold, double unclip_ratio,
                                  double min_side, float *boxes, int capacity, int *count, char *err,
                                  size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (prob == nullptr || width <= 0 || height <= 0 || stride < width || valid_width <= 0 ||
            valid_height <= 0 || valid_width > width || valid_height > height || count == nullptr ||
            capacity < 0 || (capacity > 0 && boxes == nullptr)) {
            write_error(err, err_len, "invalid argument to rcv_prob_map_boxes");
            return RCV_ERR_ARGUMENT;
        }
        *count = 0;
        cv::Mat whole(height, width, CV_32F, const_cast<float *>(prob), static_cast<size_t>(stride) * sizeof(float));
        cv::Mat map = whole(cv::Rect(0, 0, valid_width, valid_height));
        cv::Mat mask = map > bin_threshold;
        // As PaddleOCR's DB post-processing with use_dilation: join the strokes of one line.
        cv::dilate(mask, mask, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(2, 2)));
        std::vector<std::vector<cv::Point>> contours;
        cv::findContours(mask, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
        struct Found { float x, y, w, h, score; };
        std::vector<Found> found;
        for (const auto &c : contours) {
            cv::Rect b = cv::boundingRect(c);
            if (std::min(b.width, b.height) < min_side) continue;
            cv::Mat inside = cv::Mat::zeros(b.height, b.width, CV_8U);
            std::vector<std::vector<cv::Point>> one{c};
            cv::drawContours(inside, one, 0, cv::Scalar(1), cv::FILLED, cv::LINE_8, cv::noArray(), INT_MAX, -b.tl());
            double score = cv::mean(map(b), inside)[0];
            if (score < box_threshold) continue;
            // Unclip: grow by area * ratio / perimeter of the minimum-area rectangle (DB's offset).
            cv::RotatedRect rr = cv::minAreaRect(c);
            double area = rr.size.area(), perimeter = 2.0 * (rr.size.width + rr.size.height);
            double d = perimeter > 0 ? area * unclip_ratio / perimeter : 0;
            double x0 = std::max(0.0, b.x - d), y0 = std::max(0.0, b.y - d);
            double x1 = std::min<double>(valid_width, b.x + b.width + d);
            double y1 = std::min<double>(valid_height, b.y + b.height + d);
            if (x1 <= x0 || y1 <= y0) continue;
            found.push_back({float(x0), float(y0), float(x1 - x0), float(y1 - y0), float(score)});
        }
        std::sort(found.begin(), found.end(), [](const Found &a, const Found &b) { return a.score > b.score; });
        int n = std::min<int>(capacity, static_cast<int>(found.size()));
        for (int i = 0; i < n; i++) {
            float *o = boxes + 5 * i;
            o[0] = found[i].x; o[1] = found[i].y; o[2] = found[i].w; o[3] = found[i].h; o[4] = found[i].score;
        }
        *count = n;
        return RCV_OK;
    });
}
