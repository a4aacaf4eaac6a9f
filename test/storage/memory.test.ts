import { storageContract } from "./contract.ts";
import { memoryStorage } from "../../src/storage/memory.ts";

storageContract("memory", async () => ({ storage: memoryStorage() }));
