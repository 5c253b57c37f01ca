// The write queue: writes run in order on another thread, drain waits for them, and a failed
// write is reported to the caller instead of being lost.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "write_queue.hpp"

namespace lowrank {
namespace {

TEST(WriteQueue, RunsWritesInOrderOffTheCallersThread) {
  std::vector<int> order;
  std::thread::id caller = std::this_thread::get_id(), writer;
  WriteQueue q;
  for (int i = 0; i < 100; ++i)
    q.push([&, i] {
      if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the caller does not wait
      order.push_back(i);
      writer = std::this_thread::get_id();
    });
  q.drain();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_NE(writer, caller);
}

TEST(WriteQueue, AFailedWriteIsRethrownAndTheWritesQueuedBehindItDropped) {
  WriteQueue q;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  bool behind = false, after = false;
  q.push([released] {
    released.wait();
    throw std::runtime_error("disk full");
  });
  q.push([&] { behind = true; });  // queued while the failing write is still running
  release.set_value();
  EXPECT_THROW(q.drain(), std::runtime_error);
  EXPECT_FALSE(behind) << "a write queued behind a failed one is dropped";
  q.push([&] { after = true; });
  q.drain();
  EXPECT_TRUE(after) << "the queue keeps working after reporting a failure";
}

TEST(WriteQueue, PushRethrowsAnEarlierFailure) {
  WriteQueue q;
  q.push([] { throw std::runtime_error("disk full"); });
  bool thrown = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!thrown && std::chrono::steady_clock::now() < deadline) {
    try {
      q.push([] {});
    } catch (const std::runtime_error&) {
      thrown = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(thrown) << "push reports the failure once the writer has met it";
}

TEST(WriteQueue, DestructorFinishesQueuedWrites) {
  int done = 0;
  {
    WriteQueue q;
    for (int i = 0; i < 10; ++i) q.push([&] { ++done; });
  }
  EXPECT_EQ(done, 10);
}

}  // namespace
}  // namespace lowrank
