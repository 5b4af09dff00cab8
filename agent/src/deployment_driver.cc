#include "deployment_driver.h"

#include <string>

namespace ota::agent {

DriveResult DriveDeployment(State saved, int saves, int max_saves, DeploymentSteps& steps,
                            DeploymentJournal& journal) {
  DriveResult result;
  State state = ResumeState(saved);
  State recorded = saved;
  std::optional<Error> failure;
  std::optional<Error> pause_error;
  bool paused = false;
  if (saves >= max_saves) {
    failure = MakeError(ErrorCode::kRestartDeployment,
                        "deployment restarted " + std::to_string(saves) + " times; giving up");
    const Transition t = NextState(state, Event::kLoopDetected);
    state = t.to;
    paused = t.pause;
  }
  while (true) {
    const bool terminal = IsTerminal(state);
    if (state != recorded || terminal) {
      // Saved before its work runs: a restart resumes exactly here.
      Status s = journal.Save(state, terminal, failure);
      if (!s.ok()) {
        result.state = recorded;
        result.paused = true;
        result.error = std::move(s).error();
        return result;
      }
      recorded = state;
    }
    if (paused || terminal) {
      result.state = state;
      result.paused = paused;
      result.error = paused ? pause_error : failure;
      return result;
    }
    const bool candidate_was_active = state == State::kRollingBack && steps.CandidateActive();
    StepResult step = steps.Run(state);
    if (state == State::kRollingBack && step.event == Event::kOk && candidate_was_active) {
      result.returned = !steps.CandidateActive();
    }
    const Transition t = NextState(state, step.event);
    if (t.pause) {
      paused = true;
      pause_error = step.error;
    } else if (step.error && !failure) {
      failure = step.error;
    }
    state = t.to;
  }
}

}  // namespace ota::agent
