// Entry point of splitblk.node. Loaded only by src/native/index.ts, which implements the
// NativeApi contract of src/native/api.ts on top of the functions registered here.
#include "common.h"

#include <dlfcn.h>

#include <cstring>

namespace splitblk {

Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err, const std::string& path) {
  std::string message = std::string(syscall) + ": " + std::strerror(err);
  if (!path.empty()) message += " (" + path + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, uv_err_name(-err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) error.Set("path", Napi::String::New(env, path));
  return error;
}

Napi::Error CodeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

uint64_t ToU64(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
    throw Napi::RangeError::New(value.Env(), std::string(what) + " must be an integer in [0, 2^53)");
  }
  return static_cast<uint64_t>(d);
}

uv_loop_t* LoopOf(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_uv_event_loop(env, &loop), nullptr);
  return loop;
}

void CallFromLoop(Napi::Env env, const Napi::FunctionReference& fn, napi_async_context context,
                  const std::initializer_list<napi_value>& args) {
  // Raw N-API on purpose: node-addon-api turns a failed call into a C++ exception by building an
  // Error object, and while a Worker is being terminated that construction itself fails and
  // aborts the whole process. Here a failure is only inspected, never wrapped.
  Napi::HandleScope scope(env);
  napi_value global = nullptr;
  if (napi_get_global(env, &global) != napi_ok) return;
  napi_value result = nullptr;
  napi_status status = napi_make_callback(env, context, global, fn.Value(), args.size(), args.begin(), &result);
  if (status == napi_ok) return;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) {
    // The call failed without an exception: the environment can no longer run JS (it is being
    // torn down), so there is nobody left to deliver this callback to.
    return;
  }
  napi_value error = nullptr;
  if (napi_get_and_clear_last_exception(env, &error) != napi_ok) return;
  // We are below the event loop, not below JS: hand the exception to Node's
  // 'uncaughtException' machinery instead of unwinding into libuv.
  napi_fatal_exception(env, error);
}

}  // namespace splitblk

// Our uv handles are closed asynchronously: their close callbacks (code in this library) can run
// after Node has torn down the environment that loaded us, which for a Worker includes
// dlclose()ing the addon. Marking the library RTLD_NODELETE keeps that code mapped for the life
// of the process. It is loaded once per process anyway; the cost is not unloading it.
static void PinLibrary() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinLibrary), &info) == 0 || info.dli_fname == nullptr) return;
  // RTLD_NOLOAD: only take another reference on the copy already loaded, now undeletable.
  dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinLibrary();
  splitblk::RegisterShm(env, exports);
  splitblk::RegisterDoorbell(env, exports);
  splitblk::RegisterAio(env, exports);
  splitblk::RegisterStreamSocket(env, exports);
  return exports;
}

NODE_API_MODULE(splitblk, Init)
