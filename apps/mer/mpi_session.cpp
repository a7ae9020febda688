#include "mpi_session.h"

#include <cstdlib>

#ifdef MER_WITH_MPI
#include <mpi.h>
#endif

namespace mer::cli {

namespace {
// Launchers set one of these; a plain `mer` start skips MPI_Init (fast, no MPI warnings).
bool launched_by_mpirun() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(var)) return true;
  }
  return false;
}
}  // namespace

bool MpiSession::built_with_mpi() {
#ifdef MER_WITH_MPI
  return true;
#else
  return false;
#endif
}

MpiSession::MpiSession(int* argc, char*** argv) {
#ifdef MER_WITH_MPI
  if (!launched_by_mpirun()) return;
  MPI_Init(argc, argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  active_ = true;
#else
  (void)argc;
  (void)argv;
#endif
}

MpiSession::~MpiSession() {
#ifdef MER_WITH_MPI
  if (active_) MPI_Finalize();
#endif
}

engine::FoldDistribution MpiSession::distribution() const {
  engine::FoldDistribution d;
  d.rank = rank_;
  d.size = size_;
#ifdef MER_WITH_MPI
  if (active_) d.barrier = [] { MPI_Barrier(MPI_COMM_WORLD); };
#endif
  return d;
}

void MpiSession::abort(int code) const {
#ifdef MER_WITH_MPI
  if (active_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace mer::cli
