// Running code that is meant to abort (a simulated GPU's fault) in a forked child, and checking
// what it said: the tests of native/cudasim.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

namespace check {

// Runs `f` in a child process; its exit status and what it wrote to stderr.
struct Outcome {
  bool aborted = false;
  int code = 0;
  std::string err;
};
inline Outcome in_child(const std::function<void()>& f) {
  int pipefd[2];
  if (pipe(pipefd) != 0) std::abort();
  std::fflush(stdout);  // or the child may print the parent's pending output again
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    dup2(pipefd[1], 2);
    f();
    std::fflush(stderr);
    _exit(0);
  }
  close(pipefd[1]);
  Outcome o;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) o.err.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  o.aborted = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return o;
}

inline bool has(const std::string& s, const char* what) {
  const bool ok = s.find(what) != std::string::npos;
  if (!ok) std::fprintf(stderr, "  expected \"%s\" in:\n%s\n", what, s.c_str());
  return ok;
}

}  // namespace check
