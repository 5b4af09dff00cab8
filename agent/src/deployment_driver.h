// Drives one deployment through the lifecycle table (ota/agent/lifecycle.h):
// saves the state before its work runs, runs the work, and takes the next
// state from the table's cell for the event the work ended with. The work
// and the saving are interfaces, so that every cell can be driven by a test
// with fakes (tests/agent/deployment_driver_test.cc) as well as by the real
// steps (deployment.cc).
#ifndef OTA_AGENT_SRC_DEPLOYMENT_DRIVER_H_
#define OTA_AGENT_SRC_DEPLOYMENT_DRIVER_H_

#include <optional>

#include "ota/agent/lifecycle.h"
#include "ota/common/result.h"

namespace ota::agent {

// What one state's work ended with.
struct StepResult {
  Event event = Event::kOk;
  std::optional<Error> error;
};

// The work of each state.
class DeploymentSteps {
 public:
  virtual ~DeploymentSteps() = default;
  // Runs the work of a non-terminal state.
  virtual StepResult Run(State state) = 0;
  // Whether the candidate version is the active one now.
  virtual bool CandidateActive() = 0;
};

// Where the driver records the deployment's progress.
class DeploymentJournal {
 public:
  virtual ~DeploymentJournal() = default;
  // Saves `state` (terminal: the deployment ends) with the failure that
  // ended or will end it, if any. Called before the state's work runs.
  virtual Status Save(State state, bool terminal, const std::optional<Error>& failure) = 0;
};

struct DriveResult {
  State state = State::kIdle;  // Where the deployment stands now.
  // It waits in `state` for a later cycle (a pause cell); `error` says why.
  bool paused = false;
  // Set when the deployment ended failed (the first error on its way) or
  // paused, or when saving failed (then paused is true as well).
  std::optional<Error> error;
  // A rollback switched the previous version back in (the candidate had
  // been active).
  bool returned = false;
};

// Drives a deployment saved in `saved` and saved `saves` times so far; at
// `max_saves` or more it is in a restart loop (event loop-detected, no work
// runs). Stops at a terminal state or a pause.
DriveResult DriveDeployment(State saved, int saves, int max_saves, DeploymentSteps& steps,
                            DeploymentJournal& journal);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_DEPLOYMENT_DRIVER_H_
