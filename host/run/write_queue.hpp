// Runs file writes on a thread of their own, in order, so that writing epoch t does not stall
// epoch t+1. Only that thread touches the file while the queue is open.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace lowrank {

class WriteQueue {
 public:
  WriteQueue();
  ~WriteQueue();  // finishes every queued write
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Queues `write`; rethrows here the failure of an earlier one.
  void push(std::function<void()> write);
  // Waits until every queued write is done; rethrows a failure.
  void drain();

 private:
  void work();
  void rethrow();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> pending_;
  bool busy_ = false, closing_ = false;
  std::exception_ptr failure_;
  std::thread worker_;
};

}  // namespace lowrank
