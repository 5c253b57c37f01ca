#include "write_queue.hpp"

#include <utility>

namespace lowrank {

WriteQueue::WriteQueue() : worker_([this] { work(); }) {}

WriteQueue::~WriteQueue() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void WriteQueue::push(std::function<void()> write) {
  {
    std::lock_guard lock(mutex_);
    rethrow();
    pending_.push_back(std::move(write));
  }
  changed_.notify_all();
}

void WriteQueue::drain() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return (pending_.empty() && !busy_) || failure_; });
  rethrow();
}

void WriteQueue::rethrow() {
  if (failure_) {
    pending_.clear();
    std::rethrow_exception(std::exchange(failure_, nullptr));
  }
}

void WriteQueue::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return !pending_.empty() || closing_; });
    if (pending_.empty()) return;  // closing, nothing left
    std::function<void()> write = std::move(pending_.front());
    pending_.pop_front();
    busy_ = true;
    lock.unlock();
    std::exception_ptr failed;
    try {
      write();
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    busy_ = false;
    if (failed && !failure_) {
      failure_ = failed;
      pending_.clear();
    }
    changed_.notify_all();
  }
}

}  // namespace lowrank
