import Checkpoint
import Distributed
import Engine
import Foundation
import InputChecks

/// A trainer's complete state as checkpoint contents, and back.
///
/// Tensors: every weight under its Keras name (BatchNormalization's moving statistics averaged over the ranks),
/// the optimizer's slots as `optimizer/<weight>/<slot>`, and, when early stopping keeps them, the best epoch's
/// weights as `early_stopping/best/<weight>`. Metadata (strings, JSON where structured): the model, the training
/// configuration, the optimizer with its iteration count, the position (epoch, step in epoch, global step,
/// samples seen, the epoch's running totals), the seed, the world size, every rank's dropout generator state,
/// the history, the early-stopping state with its best monitored value.
extension Trainer {
    /// True right after an epoch whose monitored value (val_loss, or loss) is the best so far: for --save-best.
    public var isBestEpochJustEnded: Bool {
        guard let last = history.last, progress.stepInEpoch == 0 else { return false }
        let monitored = { (record: EpochRecord) in record.valLoss ?? record.loss }
        return history.allSatisfy { monitored($0) >= monitored(last) }
    }

    /// Collective: every rank calls it; every rank gets the same contents (rank 0 is the one that writes them).
    public func snapshot(definition: ModelDefinition, metadata extra: [String: String]) throws -> SafeTensors {
        // The moving statistics are averaged in a copy: the ranks keep training with their own, as without a save.
        var state = Array(model.store.state)
        communicator.allreduce(&state, .average)
        var tensors = model.store.views.map { view in
            let values = view.trainable ? model.store.values(of: view) : Array(state[view.offset..<view.offset + view.count])
            return SafeTensors.Entry(name: view.name, shape: view.shape, values: values)
        }
        let count = model.store.values.count
        for (k, slot) in optimizer.slotNames.enumerated() where optimizer.slots.count == optimizer.slotNames.count * count {
            for view in model.store.views where view.trainable {
                let start = k * count + view.offset
                tensors.append(.init(name: "optimizer/\(view.name)/\(slot)", shape: view.shape,
                                     values: Array(optimizer.slots[start..<start + view.count])))
            }
        }
        if let stopper, !stopper.bestValues.isEmpty {
            for view in model.store.views {
                let source = view.trainable ? stopper.bestValues : stopper.bestState
                tensors.append(.init(name: "early_stopping/best/\(view.name)", shape: view.shape,
                                     values: Array(source[view.offset..<view.offset + view.count])))
            }
        }
        // Each lane's generator state, lane t of rank r at r·T + t, its two 32-bit halves exact in Doubles,
        // gathered by a sum.
        let lanes = laneGenerators, first = communicator.rank * lanes.count
        var generators = [Double](repeating: 0, count: 2 * communicator.size * lanes.count)
        for (t, generator) in lanes.enumerated() {
            generators[2 * (first + t)] = Double(generator.state >> 32)
            generators[2 * (first + t) + 1] = Double(generator.state & 0xFFFF_FFFF)
        }
        communicator.allreduce(&generators, .sum)
        let states = (0..<generators.count / 2).map { UInt64(generators[2 * $0]) << 32 | UInt64(generators[2 * $0 + 1]) }

        var metadata = extra
        metadata["model"] = try ModelFile.encodedDefinition(definition)
        metadata["training"] = try SafeTensors.metadataJSON(configuration)
        let optimizerState = OptimizerState(spec: configuration.optimizer, iterations: optimizer.iterations)
        metadata["optimizer"] = try SafeTensors.metadataJSON(optimizerState)
        metadata["progress"] = try SafeTensors.metadataJSON(progress)
        metadata["epoch"] = String(progress.epoch)
        metadata["step_in_epoch"] = String(progress.stepInEpoch)
        metadata["global_step"] = String(progress.globalStep)
        metadata["samples_seen"] = String(progress.samplesSeen)
        metadata["seed"] = String(configuration.seed)
        metadata["world_size"] = String(communicator.size)
        metadata["threads"] = String(workers.count)
        metadata["rng_states"] = try SafeTensors.metadataJSON(states.map { String($0, radix: 16) })
        metadata["history"] = try SafeTensors.metadataJSON(progress.history)
        if let stopper {
            let state = EarlyStoppingState(best: stopper.best.isFinite ? stopper.best : nil, bestEpoch: stopper.bestEpoch,
                                           wait: stopper.wait)
            metadata["early_stopping"] = try SafeTensors.metadataJSON(state)
            if stopper.best.isFinite { metadata["best_monitored"] = String(stopper.best) }
        }
        return SafeTensors(tensors: tensors, metadata: metadata)
    }

    /// Takes the state of checkpoint contents (read by rank 0, broadcast to all); `path` names it in errors.
    /// Returns the ranks and threads a rank it was saved with.
    @discardableResult
    public func restore(from contents: SafeTensors, path: String) throws -> (ranks: Int, threads: Int) {
        func field<T: Decodable>(_ key: String, _ type: T.Type) throws -> T {
            guard let text = contents.metadata[key], let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw CheckpointError("\(path) is not a training checkpoint (no readable \"\(key)\"); "
                                          + "resume from a file written with --checkpoint-dir")
            }
            return value
        }
        func damaged(_ problem: String) -> CheckpointError {
            CheckpointError("\(path) is damaged: \(problem); resume from another checkpoint, or start a new run")
        }
        let savedProgress = try field("progress", TrainingProgress.self)
        if let problem = savedProgress.problem { throw damaged(problem) }
        let optimizerState = try field("optimizer", OptimizerState.self)
        guard (0...(1 << 53)).contains(optimizerState.iterations) else {
            throw damaged("optimizer iterations \(optimizerState.iterations)")
        }
        let generatorTexts = try field("rng_states", [String].self)
        let generators = generatorTexts.compactMap { UInt64($0, radix: 16) }
        guard !generators.isEmpty, generators.count == generatorTexts.count, generators.count <= 1 << 20 else {
            throw damaged("its rng_states are not hexadecimal generator states")
        }
        // Checkpoints from before threads have one generator a rank and no "threads".
        let savedThreads = contents.metadata["threads"].map { Int($0) } ?? 1
        guard let savedThreads, savedThreads >= 1, generators.count % savedThreads == 0 else {
            throw damaged("its threads (\(contents.metadata["threads"] ?? "")) do not divide its \(generators.count) rng_states")
        }
        // Every tensor read must be finite: a NaN restored is a run that can only diverge.
        if let bad = contents.tensors.first(where: { !$0.values.allSatisfy(\.isFinite) }) {
            throw damaged("\(shown(bad.name)) holds a value that is not finite")
        }
        for view in model.store.views {
            guard let tensor = contents[view.name], tensor.shape == view.shape else {
                throw CheckpointError("\(path) lacks \(view.name) of shape \(view.shape)")
            }
            model.store.setValues(tensor.values, of: view)
        }
        let count = model.store.values.count
        optimizer.iterations = optimizerState.iterations
        optimizer.slots = []
        if optimizerState.iterations > 0 && !optimizer.slotNames.isEmpty {
            var slots = [Float](repeating: 0, count: optimizer.slotNames.count * count)
            for (k, slot) in optimizer.slotNames.enumerated() {
                for view in model.store.views where view.trainable {
                    guard let tensor = contents["optimizer/\(view.name)/\(slot)"], tensor.values.count == view.count else {
                        throw CheckpointError("\(path) lacks the optimizer slot optimizer/\(view.name)/\(slot); "
                                                  + "was it saved with another optimizer?")
                    }
                    slots.replaceSubrange((k * count + view.offset)..<(k * count + view.offset + view.count), with: tensor.values)
                }
            }
            optimizer.slots = slots
        }
        // A run with early stopping always saves its state: a checkpoint without a readable one is damaged.
        if var current = stopper {
            let state = try field("early_stopping", EarlyStoppingState.self)
            current.best = state.best ?? .infinity
            current.bestEpoch = state.bestEpoch
            current.wait = state.wait
            guard state.wait >= 0, (state.bestEpoch ?? 1) >= 1, (state.bestEpoch ?? 0) <= savedProgress.epoch,
                  state.best?.isFinite ?? true else {
                throw damaged("its early-stopping state (wait \(state.wait), best epoch \(state.bestEpoch ?? 0)) does not fit it")
            }
            if contents["early_stopping/best/\(model.store.views[0].name)"] != nil {
                current.bestValues = [Float](repeating: 0, count: count)
                current.bestState = [Float](repeating: 0, count: model.store.state.count)
                for view in model.store.views {
                    let values = contents["early_stopping/best/\(view.name)"]?.values ?? []
                    guard values.count == view.count else { throw CheckpointError("\(path): early_stopping/best/\(view.name) is damaged") }
                    if view.trainable {
                        current.bestValues.replaceSubrange(view.offset..<view.offset + view.count, with: values)
                    } else {
                        current.bestState.replaceSubrange(view.offset..<view.offset + view.count, with: values)
                    }
                }
            }
            stopper = current
        }
        progress = savedProgress
        // The same lane keeps its own dropout stream; a lane the saved job did not have derives a new one.
        laneGenerators = laneGenerators.enumerated().map { t, derived in
            let global = communicator.rank * workers.count + t
            return global < generators.count ? SplitMix64(seed: generators[global]) : derived
        }
        copyStateToLanes()
        return (generators.count / savedThreads, savedThreads)
    }
}

struct OptimizerState: Codable {
    var spec: OptimizerSpec
    var iterations: Int
}

struct EarlyStoppingState: Codable {
    var best: Double?
    var bestEpoch: Int?
    var wait: Int

    enum CodingKeys: String, CodingKey { case best, bestEpoch = "best_epoch", wait }
}
