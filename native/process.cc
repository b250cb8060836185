// Process-lifecycle helpers: parent-death signal, and pidfd-based liveness and
// synchronous waiting for a child's exit (used by Process.joinSync).
//
// joinSync must learn a child's exit status without reaping it: libuv owns
// reaping (its SIGCHLD handler calls waitpid and emits the ChildProcess 'exit'
// event). So we poll() the pidfd and then read the status with
// waitid(P_PIDFD, ..., WEXITED | WNOWAIT), which leaves the zombie for libuv.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace multiproc {
namespace {

using v8::FunctionCallbackInfo;
using v8::Value;

// setParentDeathSignal(signal): the kernel sends `signal` to this process when
// the thread that created it exits. Returns the parent pid seen right after,
// so the caller can detect a parent that died before the call.
void SetParentDeathSignal(const FunctionCallbackInfo<Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  int sig = args[0]->Int32Value(isolate->GetCurrentContext()).FromJust();
  if (prctl(PR_SET_PDEATHSIG, sig) != 0) return ThrowErrno(isolate, "prctl(PR_SET_PDEATHSIG)", errno);
  args.GetReturnValue().Set(static_cast<int32_t>(getppid()));
}

// An int32 argument, or a TypeError (a missing argument is not read as 0:
// closeFd() must never close fd 0).
bool IntArg(const FunctionCallbackInfo<Value>& args, int i, const char* what, int* out) {
  if (args.Length() <= i || !args[i]->IsInt32()) {
    v8::Isolate* isolate = args.GetIsolate();
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8(isolate, (std::string(what) + " must be an integer").c_str()).ToLocalChecked()));
    return false;
  }
  *out = args[i].As<v8::Int32>()->Value();
  return true;
}

// pidfdOpen(pid) -> fd
void PidfdOpen(const FunctionCallbackInfo<Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  int pid;
  if (!IntArg(args, 0, "pidfdOpen(pid): pid", &pid)) return;
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return ThrowErrno(isolate, "pidfd_open", errno);
  args.GetReturnValue().Set(static_cast<int32_t>(fd));
}

// pidfdWait(fd, timeoutMs) -> null if still running after timeoutMs
// (-1 = wait forever), else { code, signal } without reaping the child.
void PidfdWait(const FunctionCallbackInfo<Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  int fd = args[0]->Int32Value(context).FromJust();
  int timeout = args[1]->Int32Value(context).FromJust();
  struct pollfd pfd = {fd, POLLIN, 0};
  int rc;
  do {
    rc = poll(&pfd, 1, timeout);  // EINTR: retry (a signal for libuv, usually SIGCHLD)
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return ThrowErrno(isolate, "poll(pidfd)", errno);
  if (rc == 0) return args.GetReturnValue().SetNull();
  siginfo_t info = {};
  if (syscall(SYS_waitid, P_PIDFD, fd, &info, WEXITED | WNOWAIT | WNOHANG, nullptr) != 0) {
    // ECHILD: already reaped by libuv; the caller reads the status from the 'exit' event.
    if (errno == ECHILD) return args.GetReturnValue().SetNull();
    return ThrowErrno(isolate, "waitid(P_PIDFD)", errno);
  }
  if (info.si_pid == 0) return args.GetReturnValue().SetNull();
  v8::Local<v8::Object> result = v8::Object::New(isolate);
  bool exited = info.si_code == CLD_EXITED;
  result->Set(context, v8::String::NewFromUtf8Literal(isolate, "code"),
              exited ? v8::Integer::New(isolate, info.si_status).As<Value>() : v8::Null(isolate).As<Value>())
      .Check();
  result->Set(context, v8::String::NewFromUtf8Literal(isolate, "signal"),
              exited ? v8::Null(isolate).As<Value>() : v8::Integer::New(isolate, info.si_status).As<Value>())
      .Check();
  args.GetReturnValue().Set(result);
}

// closeFd(fd)
void CloseFd(const FunctionCallbackInfo<Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  int fd;
  if (!IntArg(args, 0, "closeFd(fd): fd", &fd)) return;
  if (close(fd) != 0 && errno != EINTR) return ThrowErrno(isolate, "close", errno);
}

// Whether `pid` is a child of this process that has exited and not been
// reaped yet (kill(pid, 0) still succeeds on such a zombie): a parent whose
// event loop is blocked in a Sync call has not reaped its dead child yet.
// WNOWAIT leaves it for libuv to reap. Not our child (ECHILD): not known here.
bool IsUnreapedChild(int pid) {
  siginfo_t info = {};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == pid;
}

// pidAlive(pid) -> boolean: the pid exists and is not a zombie child of ours.
void PidAlive(const FunctionCallbackInfo<Value>& args) {
  int pid;
  if (!IntArg(args, 0, "pidAlive(pid): pid", &pid)) return;
  bool alive = (kill(pid, 0) == 0 || errno == EPERM) && !IsUnreapedChild(pid);
  args.GetReturnValue().Set(alive);
}

}  // namespace

void InitProcess(v8::Local<v8::Context> context, v8::Local<v8::Object> exports) {
  SetMethod(context, exports, "setParentDeathSignal", SetParentDeathSignal);
  SetMethod(context, exports, "pidfdOpen", PidfdOpen);
  SetMethod(context, exports, "pidfdWait", PidfdWait);
  SetMethod(context, exports, "closeFd", CloseFd);
  SetMethod(context, exports, "pidAlive", PidAlive);
}

}  // namespace multiproc
