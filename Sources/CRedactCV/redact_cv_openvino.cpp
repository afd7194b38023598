// OpenVINO's CPU plugin behind rcv_net (RCV_ENGINE_OPENVINO), through OpenVINO's C API.
//
// Why a second engine: on the two-core benchmark machine CenterFace at 1280x736 takes about
// 127 ms in OpenCV 4.6's DNN module, about 57 ms here in float32 and 27-31 ms in bfloat16
// (docs/performance.md). The C API is used, not the C++ one, so nothing depends on the wheel's
// C++ ABI.
//
// The runtime comes from the PyPI wheel that scripts/setup-openvino.sh unpacks into
// .cache/openvino; Package.swift defines REDACT_HAVE_OPENVINO only when it is there. Without
// it every entry point here fails with a message saying so (the caller fails closed).
#include "redact_cv.h"
#include "redact_cv_internal.hpp"

#include <malloc.h>

#include <array>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#if REDACT_HAVE_OPENVINO
#include <openvino/c/openvino.h>

namespace {
[[noreturn]] void fail(const std::string &what, ov_status_e status) {
    const char *last = ov_get_last_err_msg();
    std::string detail = last != nullptr && *last != '\0' ? last : ov_get_error_info(status);
    throw std::runtime_error("OpenVINO: " + what + ": " + detail);
}

void check(ov_status_e status, const std::string &what) {
    if (status != OK) fail(what, status);
}

// One compiled copy of the model for one input size, and its request.
struct CompiledShape {
    ov_compiled_model_t *compiled = nullptr;
    ov_infer_request_t *request = nullptr;
    // Whether the request has run: the first run ends the shape's set-up (see malloc_trim).
    bool ran = false;
    // The last run's output tensors, held until the next run so that the Mats handed out over
    // their memory stay valid while the caller copies them (one copy, not two).
    std::vector<ov_tensor_t *> outputs;
    CompiledShape() = default;
    CompiledShape(const CompiledShape &) = delete;
    CompiledShape &operator=(const CompiledShape &) = delete;
    void releaseOutputs() {
        for (ov_tensor_t *t : outputs) ov_tensor_free(t);
        outputs.clear();
    }
    ~CompiledShape() {
        releaseOutputs();
        if (request != nullptr) ov_infer_request_free(request);
        if (compiled != nullptr) ov_compiled_model_free(compiled);
    }
};
}  // namespace

struct rcv_internal::OpenVINOModel {
    ov_core_t *core = nullptr;
    ov_model_t *model = nullptr;
    std::string threads;
    bool float32 = false;
    std::string path;
    // Whether the model takes the image's bytes (1xHxWx3 u8, see `takePixels`) instead of a
    // 1x3xHxW float32 blob: set by the first run, fixed after.
    bool pixelInput = false;
    // A CPU plugin model is compiled for fixed input dimensions: one per size seen (the
    // detectors use one or two sizes per network).
    std::map<std::pair<int, int>, std::unique_ptr<CompiledShape>> shapes;

    // The input's dimensions for a width x height image, in the layout the model takes.
    std::array<int64_t, 4> inputDims(int width, int height) const {
        if (pixelInput) return {1, height, width, 3};
        return {1, 3, height, width};
    }

    // Makes the model take packed 8-bit pixels, height x width x 3, as they are: the byte to
    // float conversion and the move to planar channels become the first step of the compiled
    // network, which OpenVINO folds into its first layer's input reordering. No float32 blob is
    // packed on the caller's thread, nor kept (11 MB for a 1280x736 input). The values the
    // network sees are the same floats (each byte converted exactly).
    void takePixels() {
        ov_preprocess_prepostprocessor_t *ppp = nullptr;
        ov_preprocess_input_info_t *input = nullptr;
        ov_preprocess_input_tensor_info_t *tensor = nullptr;
        ov_preprocess_input_model_info_t *modelInfo = nullptr;
        ov_layout_t *tensorLayout = nullptr, *modelLayout = nullptr;
        ov_model_t *built = nullptr;
        ov_status_e status = ov_preprocess_prepostprocessor_create(model, &ppp);
        if (status == OK) status = ov_preprocess_prepostprocessor_get_input_info(ppp, &input);
        if (status == OK) status = ov_preprocess_input_info_get_tensor_info(input, &tensor);
        if (status == OK) status = ov_preprocess_input_tensor_info_set_element_type(tensor, U8);
        if (status == OK) status = ov_layout_create("NHWC", &tensorLayout);
        if (status == OK) status = ov_preprocess_input_tensor_info_set_layout(tensor, tensorLayout);
        if (status == OK) status = ov_preprocess_input_info_get_model_info(input, &modelInfo);
        if (status == OK) status = ov_layout_create("NCHW", &modelLayout);
        if (status == OK) status = ov_preprocess_input_model_info_set_layout(modelInfo, modelLayout);
        if (status == OK) status = ov_preprocess_prepostprocessor_build(ppp, &built);
        if (modelLayout != nullptr) ov_layout_free(modelLayout);
        if (tensorLayout != nullptr) ov_layout_free(tensorLayout);
        if (modelInfo != nullptr) ov_preprocess_input_model_info_free(modelInfo);
        if (tensor != nullptr) ov_preprocess_input_tensor_info_free(tensor);
        if (input != nullptr) ov_preprocess_input_info_free(input);
        if (ppp != nullptr) ov_preprocess_prepostprocessor_free(ppp);
        check(status, "8-bit input for " + path);
        ov_model_free(model);
        model = built;
        pixelInput = true;
    }

    ~OpenVINOModel() {
        shapes.clear();
        if (model != nullptr) ov_model_free(model);
        if (core != nullptr) ov_core_free(core);
    }

    CompiledShape &compiled(int width, int height) {
        auto key = std::make_pair(width, height);
        auto found = shapes.find(key);
        if (found != shapes.end()) return *found->second;
        const std::array<int64_t, 4> dims = inputDims(width, height);
        ov_partial_shape_t shape;
        check(ov_partial_shape_create_static(4, dims.data(), &shape), "input shape");
        ov_status_e reshaped = ov_model_reshape_single_input(model, shape);
        ov_partial_shape_free(&shape);
        check(reshaped, "reshape " + path + " to " + std::to_string(width) + "x" + std::to_string(height));
        auto entry = std::make_unique<CompiledShape>();
        // LATENCY: one request at a time on all the threads given. Precision: the plugin's default
        // (bfloat16 on CPUs that compute it natively) unless float32 is asked for.
        std::vector<const char *> properties = {ov_property_key_hint_performance_mode, "LATENCY"};
        if (float32) properties.insert(properties.end(), {ov_property_key_hint_inference_precision, "f32"});
        if (!threads.empty()) properties.insert(properties.end(), {ov_property_key_inference_num_threads, threads.c_str()});
        ov_status_e compiled;
        switch (properties.size()) {  // the C API takes properties as variadic key, value pairs
            case 2: compiled = ov_core_compile_model(core, model, "CPU", 2, &entry->compiled, properties[0], properties[1]); break;
            case 4:
                compiled = ov_core_compile_model(core, model, "CPU", 4, &entry->compiled, properties[0], properties[1],
                                                 properties[2], properties[3]);
                break;
            default:
                compiled = ov_core_compile_model(core, model, "CPU", 6, &entry->compiled, properties[0], properties[1],
                                                 properties[2], properties[3], properties[4], properties[5]);
        }
        check(compiled, "compile " + path);
        check(ov_compiled_model_create_infer_request(entry->compiled, &entry->request), "infer request");
        CompiledShape &result = *entry;
        shapes.emplace(key, std::move(entry));
        return result;
    }
};

void rcv_internal::OpenVINOModelDeleter::operator()(OpenVINOModel *model) const { delete model; }

rcv_internal::OpenVINOModel *rcv_internal::openvino_open(const char *path, int threads, int precision) {
    auto model = std::make_unique<OpenVINOModel>();
    model->path = path;
    model->float32 = precision == RCV_PRECISION_F32;
    if (threads > 0) model->threads = std::to_string(threads);
    check(ov_core_create(&model->core), "create core");
    check(ov_core_read_model(model->core, path, nullptr, &model->model), std::string("read ") + path);
    return model.release();
}

namespace {
std::vector<cv::Mat> run(rcv_internal::OpenVINOModel &model, int width, int height, void *data,
                         const std::vector<std::string> &names);
}  // namespace

std::vector<cv::Mat> rcv_internal::openvino_forward(OpenVINOModel &model, const cv::Mat &blob,
                                                    const std::vector<std::string> &names) {
    if (blob.dims != 4 || blob.size[0] != 1 || blob.size[1] != 3 || blob.type() != CV_32F || !blob.isContinuous())
        throw std::invalid_argument("OpenVINO input must be one continuous 1x3xHxW float32 blob");
    if (model.pixelInput) throw std::logic_error("OpenVINO: " + model.path + " takes pixels, not a blob");
    return run(model, blob.size[3], blob.size[2], const_cast<float *>(blob.ptr<float>()), names);
}

std::vector<cv::Mat> rcv_internal::openvino_forward_pixels(OpenVINOModel &model, const uint8_t *pixels, int width,
                                                           int height, int stride, const std::vector<std::string> &names) {
    if (pixels == nullptr || width <= 0 || height <= 0 || stride != width * 3)
        throw std::invalid_argument("OpenVINO pixel input must be packed rows of width x 3 bytes");
    if (!model.pixelInput) {
        if (!model.shapes.empty()) throw std::logic_error("OpenVINO: " + model.path + " takes a blob, not pixels");
        model.takePixels();
    }
    return run(model, width, height, const_cast<uint8_t *>(pixels), names);
}

namespace {
// One run on `data` (1x3xHxW float32 or 1xHxWx3 u8, as the model takes), the named outputs
// returned over the request's own memory.
std::vector<cv::Mat> run(rcv_internal::OpenVINOModel &model, int width, int height, void *data,
                         const std::vector<std::string> &names) {
    CompiledShape &shape = model.compiled(width, height);

    const std::array<int64_t, 4> dims = model.inputDims(width, height);
    ov_shape_t inputShape;
    check(ov_shape_create(4, dims.data(), &inputShape), "tensor shape");
    ov_tensor_t *input = nullptr;
    ov_status_e created = ov_tensor_create_from_host_ptr(model.pixelInput ? U8 : F32, inputShape, data, &input);
    ov_shape_free(&inputShape);
    check(created, "input tensor");
    ov_status_e set = ov_infer_request_set_input_tensor(shape.request, input);
    if (set != OK) {
        ov_tensor_free(input);
        fail("set input", set);
    }
    ov_status_e ran = ov_infer_request_infer(shape.request);
    ov_tensor_free(input);
    check(ran, "infer " + model.path);
#ifdef __GLIBC__
    // Compiling a shape and its first run allocate and free tens of MB of small blocks (graph
    // transformations, kernel set-up) that glibc keeps resident, scattered in its heap, where
    // the later large buffers (decoded pictures) cannot use them: handing them back lowers the
    // job's peak resident memory (1080p, dev04: 572-576 -> 556-563 MiB). Once per shape.
    if (!shape.ran) malloc_trim(0);
#endif
    shape.ran = true;

    std::vector<cv::Mat> results;
    shape.releaseOutputs();
    for (const std::string &name : names) {
        ov_tensor_t *output = nullptr;
        check(ov_infer_request_get_tensor(shape.request, name.c_str(), &output), "output " + name);
        shape.outputs.push_back(output);  // freed at the next run or with the shape
        ov_element_type_e type;
        size_t count = 0;
        void *data = nullptr;
        ov_status_e status = ov_tensor_get_element_type(output, &type);
        if (status == OK) status = ov_tensor_get_size(output, &count);
        if (status == OK) status = ov_tensor_data(output, &data);
        if (status != OK) fail("read output " + name, status);
        if (type != F32) throw std::runtime_error("OpenVINO: output " + name + " is not float32");
        // Not copied here: the request reuses this memory on its next run, and the caller copies
        // the values out before that (rcv_internal::copy_output).
        results.push_back(cv::Mat(1, static_cast<int>(count), CV_32F, data));
    }
    return results;
}
}  // namespace

std::string rcv_internal::openvino_precision(int precision) {
    if (precision == RCV_PRECISION_F32) return "f32";
    // The CPU's default does not change while the process runs: asked once (receipts ask per job).
    static const std::string cpuDefault = [] {
        ov_core_t *core = nullptr;
        check(ov_core_create(&core), "create core");
        char *value = nullptr;
        ov_status_e status = ov_core_get_property(core, "CPU", ov_property_key_hint_inference_precision, &value);
        std::string name = status == OK && value != nullptr ? value : "";
        if (value != nullptr) ov_free(value);
        ov_core_free(core);
        check(status, "CPU inference precision");
        return name;
    }();
    return cpuDefault;
}

std::string rcv_internal::openvino_version() {
    ov_version_t version;
    if (ov_get_openvino_version(&version) != OK) return "";
    std::string number = version.buildNumber != nullptr ? version.buildNumber : "";
    ov_version_free(&version);
    return number;
}

#else  // no OpenVINO in this build

struct rcv_internal::OpenVINOModel {};

void rcv_internal::OpenVINOModelDeleter::operator()(OpenVINOModel *model) const { delete model; }

rcv_internal::OpenVINOModel *rcv_internal::openvino_open(const char *, int, int) {
    throw std::runtime_error(
        "this build has no OpenVINO (run scripts/setup.sh, remove .build, rebuild; or set detector.engine to \"opencv\")");
}

std::vector<cv::Mat> rcv_internal::openvino_forward(OpenVINOModel &, const cv::Mat &, const std::vector<std::string> &) {
    throw std::runtime_error("this build has no OpenVINO");
}

std::vector<cv::Mat> rcv_internal::openvino_forward_pixels(OpenVINOModel &, const uint8_t *, int, int, int,
                                                           const std::vector<std::string> &) {
    throw std::runtime_error("this build has no OpenVINO");
}

std::string rcv_internal::openvino_version() { return ""; }

std::string rcv_internal::openvino_precision(int) { return ""; }

#endif
