// Shared memory: tmpfs files mapped into JS as external ArrayBuffers, without copying.
//
// Opening, sizing and closing the files is plain fs work done in JS (src/native/shm.ts); this
// file only maps and unmaps. Each mapping is an external ArrayBuffer over mmap(MAP_SHARED)
// memory. A MapState shared by the ArrayBuffer's finalizer and by the JS handle decides who
// unmaps: close() detaches the buffer first (so JS can never touch unmapped memory) and then
// munmaps; the finalizer unmaps only mappings that were never closed.
#include "common.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

namespace splitblk {
namespace {

constexpr uint64_t kPageBytes = 4096;

struct MapState {
  void* addr;
  size_t length;
  bool unmapped;
};
using MapStateRef = std::shared_ptr<MapState>;

// Both owners of a MapState (the ArrayBuffer and the JS handle) hold one of these.
void ReleaseHandle(Napi::Env, MapStateRef* ref) { delete ref; }

void ReleaseBuffer(Napi::Env, void*, MapStateRef* ref) {
  MapState& state = **ref;
  // The buffer was collected without close(): unmap here. After close() the flag is set and the
  // pages may already belong to another mapping at the same address, so leave them alone.
  if (!state.unmapped) {
    munmap(state.addr, state.length);
    state.unmapped = true;
  }
  delete ref;
}

// Returns [ArrayBuffer, handle] for a fresh mapping; the handle is what unmap() takes.
Napi::Value Wrap(Napi::Env env, void* addr, size_t length) {
  auto state = std::make_shared<MapState>(MapState{addr, length, false});
  Napi::ArrayBuffer buffer;
  try {
    buffer = Napi::ArrayBuffer::New(env, addr, length, ReleaseBuffer, new MapStateRef(state));
  } catch (...) {
    munmap(addr, length);
    throw;
  }
  auto handle = Napi::External<MapStateRef>::New(env, new MapStateRef(state), ReleaseHandle);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, buffer);
  result.Set(1u, handle);
  return result;
}

uint64_t FileBytes(Napi::Env env, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) throw ErrnoError(env, "fstat", errno);
  return static_cast<uint64_t>(st.st_size);
}

int ToFd(const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), "fd must be a number");
  return value.As<Napi::Number>().Int32Value();
}

// mapFile(fd, offset, length, writable) -> [ArrayBuffer, handle]
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ToFd(info[0]);
  uint64_t offset = ToU64(info[1], "offset");
  uint64_t length = ToU64(info[2], "length");
  bool writable = info[3].ToBoolean();
  if (length == 0 || offset % kPageBytes != 0 || length % kPageBytes != 0) {
    throw CodeError(env, "SPLITBLK_ERR_MAP", "offset and length must be page-aligned and length non-zero");
  }
  uint64_t fileBytes = FileBytes(env, fd);
  // Touching a MAP_SHARED page beyond EOF raises SIGBUS, so refuse to map one at all.
  if (offset > fileBytes || length > fileBytes - offset) {
    throw CodeError(env, "SPLITBLK_ERR_MAP", "mapping [" + std::to_string(offset) + ", " +
                                                 std::to_string(offset + length) + ") lies beyond the file's end (" +
                                                 std::to_string(fileBytes) + " bytes)");
  }
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* addr = mmap(nullptr, length, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) throw ErrnoError(env, "mmap", errno);
  return Wrap(env, addr, length);
}

// mapPages(fd, pages: Uint32Array, count, writable) -> [ArrayBuffer, handle]
//
// Like Linux gntdev: reserve one contiguous range of address space, then put file page
// pages[i] at page i of it with MAP_FIXED. The reservation is PROT_NONE anonymous memory, so
// nothing is ever accessible there except the pages we place over it. Runs of consecutive file
// pages go in with one mmap each, and a mapping that is one run skips the reservation.
// The end of the run of consecutive file pages that starts at pages[from] (exclusive, <= count).
uint64_t RunEnd(const Napi::Uint32Array& pages, uint64_t from, uint64_t count) {
  uint64_t end = from + 1;
  while (end < count && pages[end] == static_cast<uint64_t>(pages[end - 1]) + 1) end++;  // no uint32 wrap
  return end;
}

Napi::Value MapPages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ToFd(info[0]);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw Napi::TypeError::New(env, "pages must be a Uint32Array");
  }
  Napi::Uint32Array pages = info[1].As<Napi::Uint32Array>();
  uint64_t count = ToU64(info[2], "count");
  bool writable = info[3].ToBoolean();
  if (count == 0 || count > pages.ElementLength()) {
    throw CodeError(env, "SPLITBLK_ERR_MAP", "count must be in [1, pages.length]");
  }
  uint64_t filePages = FileBytes(env, fd) / kPageBytes;
  for (uint64_t i = 0; i < count; i++) {
    if (pages[i] >= filePages) {
      Napi::Error error = CodeError(env, "SPLITBLK_ERR_MAP", "page " + std::to_string(pages[i]) +
                                                               " lies beyond the file's end (" +
                                                               std::to_string(filePages) + " pages)");
      error.Set("page", Napi::Number::New(env, pages[i]));
      error.Set("index", Napi::Number::New(env, static_cast<double>(i)));
      throw error;
    }
  }
  size_t length = count * kPageBytes;
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  // Runs of consecutive file pages are mapped with one mmap each. A single run (one page, or
  // pages that follow each other in the file) needs no reservation at all: one mmap in all,
  // where the data path (an indirect page, a request's contiguous buffer) maps per request.
  if (RunEnd(pages, 0, count) == count) {
    off_t fileOffset = static_cast<off_t>(pages[0]) * static_cast<off_t>(kPageBytes);
    void* base = mmap(nullptr, length, prot, MAP_SHARED, fd, fileOffset);
    if (base == MAP_FAILED) throw ErrnoError(env, "mmap", errno);
    return Wrap(env, base, length);
  }
  void* base = mmap(nullptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) throw ErrnoError(env, "mmap", errno);
  for (uint64_t i = 0; i < count;) {
    uint64_t end = RunEnd(pages, i, count);
    char* at = static_cast<char*>(base) + i * kPageBytes;
    off_t fileOffset = static_cast<off_t>(pages[i]) * static_cast<off_t>(kPageBytes);
    if (mmap(at, (end - i) * kPageBytes, prot, MAP_SHARED | MAP_FIXED, fd, fileOffset) == MAP_FAILED) {
      int err = errno;
      munmap(base, length);
      throw ErrnoError(env, "mmap", err);
    }
    i = end;
  }
  return Wrap(env, base, length);
}

// unmap(buffer, handle): detach, then munmap. Idempotent.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer() || !info[1].IsExternal()) throw Napi::TypeError::New(env, "unmap(buffer, handle)");
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  MapState& state = **info[1].As<Napi::External<MapStateRef>>().Data();
  if (state.unmapped) return env.Undefined();
  if (buffer.IsDetached() || buffer.Data() != state.addr) {
    throw Napi::Error::New(env, "unmap: buffer and handle do not belong together");
  }
  // Detach before munmap so that no JS view can reach the pages once they are gone.
  buffer.Detach();
  munmap(state.addr, state.length);
  state.unmapped = true;
  return env.Undefined();
}

// bufferAddress(buffer) -> bigint
Napi::Value BufferAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "buffer must be an ArrayBuffer");
  void* data = info[0].As<Napi::ArrayBuffer>().Data();
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data)));
}

}  // namespace

void RegisterShm(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("mapPages", Napi::Function::New(env, MapPages, "mapPages"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  exports.Set("bufferAddress", Napi::Function::New(env, BufferAddress, "bufferAddress"));
}

}  // namespace splitblk
