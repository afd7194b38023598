// Shared by the C++ files behind redact_cv.h (never seen by Swift): the network handle's
// layout and the guard that turns every C++ exception into an error code and message.
#ifndef REDACT_CV_INTERNAL_HPP
#define REDACT_CV_INTERNAL_HPP

#include "redact_cv.h"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cstring>
#include <exception>
#include <string>

struct rcv_net {
    cv::dnn::Net net;
};

namespace rcv_internal {
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
