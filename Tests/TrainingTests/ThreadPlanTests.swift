@testable import Training
import XCTest

/// Which threads a rank runs and where they are pinned, for the layouts launchers give.
final class ThreadPlanTests: XCTestCase {
    func testUnboundSingleProcessUsesEveryCoreAndPinsOnlyWhenItDoes() throws {
        let all = try ThreadPlan.make(requested: nil, environment: [:], allowedCPUs: [0, 1, 2, 3], nodeCPUs: 4)
        XCTAssertEqual(all.threads, 4)
        XCTAssertEqual(all.cpus, [0, 1, 2, 3])
        XCTAssertNil(all.oversubscription)
        // Fewer threads than the node's CPUs: pinned, they and any other such process would pile onto CPU 0.
        let one = try ThreadPlan.make(requested: 1, environment: [:], allowedCPUs: [0, 1, 2, 3], nodeCPUs: 4)
        XCTAssertEqual(one.threads, 1)
        XCTAssertNil(one.cpus)
    }

    func testBoundRankPinsToItsOwnCPUs() throws {
        let plan = try ThreadPlan.make(requested: nil, environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"],
                                       allowedCPUs: [2, 3], nodeCPUs: 4)
        XCTAssertEqual(plan.threads, 2)
        XCTAssertEqual(plan.cpus, [2, 3])
        let fewer = try ThreadPlan.make(requested: 1, environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"],
                                        allowedCPUs: [2, 3], nodeCPUs: 4)
        XCTAssertEqual(fewer.cpus, [2])
        let over = try ThreadPlan.make(requested: 2, environment: [:], allowedCPUs: [3], nodeCPUs: 4)
        XCTAssertEqual(over.oversubscription, "2 threads on the 1 core bound to this rank: they will take turns; --threads 1 fits")
    }

    func testUnboundRanksShareTheNodeUnpinnedAndOversubscriptionIsNamed() throws {
        let environment = ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"]
        let plan = try ThreadPlan.make(requested: nil, environment: environment, allowedCPUs: [0, 1, 2, 3], nodeCPUs: 4)
        XCTAssertEqual(plan.threads, 2)
        XCTAssertNil(plan.cpus)
        let over = try ThreadPlan.make(requested: 3, environment: environment, allowedCPUs: [0, 1, 2, 3], nodeCPUs: 4)
        XCTAssertEqual(over.oversubscription, "2 ranks x 3 threads on 4 cores: they will take turns; --threads 2 fits")
        let lone = try ThreadPlan.make(requested: 3, environment: [:], allowedCPUs: [0, 1], nodeCPUs: 2)
        XCTAssertEqual(lone.oversubscription, "3 threads on 2 cores: they will take turns; --threads 2 fits")
        let single = try ThreadPlan.make(requested: 2, environment: [:], allowedCPUs: [0], nodeCPUs: 1)
        XCTAssertEqual(single.oversubscription, "2 threads on 1 core: they will take turns; --threads 1 fits")
    }

    func testThreadCountsOutOfRangeAreRefusedNamingTheirSource() {
        XCTAssertThrowsError(try ThreadPlan.make(requested: 0, environment: [:], allowedCPUs: [0], nodeCPUs: 1)) {
            XCTAssertEqual("\($0)", "--threads must be 1 to 256, got 0")
        }
        XCTAssertThrowsError(try ThreadPlan.make(requested: nil, environment: ["MNIST_TRAIN_THREADS": "two"],
                                                 allowedCPUs: [0], nodeCPUs: 1)) {
            XCTAssertEqual("\($0)", "MNIST_TRAIN_THREADS must be a whole number from 1 to 256, got 'two'")
        }
    }
}
