// Shared helpers of the splitblk native addon: errors carrying errno, and the registration
// functions each facility exports to addon.cc.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace splitblk {

// A JS Error for a failed system call. It carries `code` (the errno name, e.g. "ENOENT"),
// `errno` (positive) and `syscall`, plus `path` when given; src/native turns these into
// SplitblkErrors with a stable SPLITBLK_ERR_* code.
Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err, const std::string& path = "");

// A JS Error whose `code` is already a SPLITBLK_ERR_* code (input the native side refuses).
Napi::Error CodeError(Napi::Env env, const char* code, const std::string& message);

// Reads a JS number that must be a non-negative integer below 2^53 (a byte count or offset).
uint64_t ToU64(const Napi::Value& value, const char* what);

// The main loop of this environment (all our handles live on it; no thread of our own polls).
uv_loop_t* LoopOf(Napi::Env env);

// Calls `fn` from a libuv callback (not from JS), inside a handle scope and an async context so
// that microtasks and process.nextTick run afterwards, as for any other I/O callback. An
// exception thrown by `fn` is reported as an uncaught exception, as Node does for its own I/O.
void CallFromLoop(Napi::Env env, const Napi::FunctionReference& fn, napi_async_context context,
                  const std::initializer_list<napi_value>& args);

void RegisterShm(Napi::Env env, Napi::Object exports);
void RegisterDoorbell(Napi::Env env, Napi::Object exports);
void RegisterAio(Napi::Env env, Napi::Object exports);
void RegisterStreamSocket(Napi::Env env, Napi::Object exports);

}  // namespace splitblk
