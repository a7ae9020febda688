#pragma once
// MPI for the CLI: when mer runs under mpirun (and was built with MPI), each process is one
// rank of a LOSO run whose folds are shared among the ranks; otherwise a one-process session.
// Only the CLI knows about MPI; the engine sees a rank, a size and a barrier.
#include "mer/engine/loso.h"

namespace mer::cli {

class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  engine::FoldDistribution distribution() const;
  // Ends every rank (after an error on one, so the others do not wait at a barrier forever).
  [[noreturn]] void abort(int code) const;
  static bool built_with_mpi();

 private:
  int rank_ = 0;
  int size_ = 1;
  bool active_ = false;
};

}  // namespace mer::cli
