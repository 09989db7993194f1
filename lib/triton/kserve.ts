/**
 * The subset of KServe's v2 gRPC protocol (Triton's grpc_service.proto, and ModelConfig's
 * parameters from model_config.proto; r24.10) that the triton provider uses, written here from the
 * spec as protobufjs's JSON form of a .proto: hrseg ships no .proto file to find at run time.
 * Field numbers are the spec's; the messages list only the fields read or written, and protobuf
 * skips the rest on decode.
 */
import type { fromJSON } from '@grpc/proto-loader';

type INamespace = Parameters<typeof fromJSON>[0];

const fields = (spec: Record<string, [type: string, id: number, rule?: 'repeated'] | { keyType: string; type: string; id: number }>) =>
  Object.fromEntries(Object.entries(spec).map(([name, f]) => [name, Array.isArray(f) ? { type: f[0], id: f[1], ...(f[2] ? { rule: f[2] } : {}) } : f]));

// protobufjs's method type requires a comment field.
const rpc = (requestType: string, responseType: string) => ({ requestType, responseType, comment: '' });
// A bidirectional stream: what a decoupled model (several responses per request) is reached by.
const bidi = (requestType: string, responseType: string) => ({ ...rpc(requestType, responseType), requestStream: true, responseStream: true });

export const KSERVE_V2: INamespace = {
  nested: {
    inference: {
      nested: {
        GRPCInferenceService: {
          methods: {
            ServerReady: rpc('ServerReadyRequest', 'ServerReadyResponse'),
            ModelReady: rpc('ModelReadyRequest', 'ModelReadyResponse'),
            ModelMetadata: rpc('ModelMetadataRequest', 'ModelMetadataResponse'),
            ModelInfer: rpc('ModelInferRequest', 'ModelInferResponse'),
            // Token streaming (generate.ts): HTTP's /infer and gRPC's ModelInfer refuse decoupled models.
            ModelStreamInfer: bidi('ModelInferRequest', 'ModelStreamInferResponse'),
            ModelConfig: rpc('ModelConfigRequest', 'ModelConfigResponse'),
            ModelStatistics: rpc('ModelStatisticsRequest', 'ModelStatisticsResponse'),
          },
        },
        ServerReadyRequest: { fields: {} },
        ServerReadyResponse: { fields: fields({ ready: ['bool', 1] }) },
        ModelReadyRequest: { fields: fields({ name: ['string', 1], version: ['string', 2] }) },
        ModelReadyResponse: { fields: fields({ ready: ['bool', 1] }) },
        ModelMetadataRequest: { fields: fields({ name: ['string', 1], version: ['string', 2] }) },
        ModelMetadataResponse: {
          fields: fields({
            name: ['string', 1],
            versions: ['string', 2, 'repeated'],
            platform: ['string', 3],
            inputs: ['TensorMetadata', 4, 'repeated'],
            outputs: ['TensorMetadata', 5, 'repeated'],
          }),
          nested: { TensorMetadata: { fields: fields({ name: ['string', 1], datatype: ['string', 2], shape: ['int64', 3, 'repeated'] }) } },
        },
        ModelInferRequest: {
          fields: fields({
            model_name: ['string', 1],
            model_version: ['string', 2],
            id: ['string', 3],
            // sequence_id, sequence_start, sequence_end: the sequence batcher's routing (decoder.ts).
            parameters: { keyType: 'string', type: 'InferParameter', id: 4 },
            inputs: ['InferInputTensor', 5, 'repeated'],
            outputs: ['InferRequestedOutputTensor', 6, 'repeated'],
            raw_input_contents: ['bytes', 7, 'repeated'],
          }),
          nested: {
            InferInputTensor: { fields: fields({ name: ['string', 1], datatype: ['string', 2], shape: ['int64', 3, 'repeated'] }) },
            InferRequestedOutputTensor: { fields: fields({ name: ['string', 1] }) },
          },
        },
        ModelInferResponse: {
          fields: fields({
            model_name: ['string', 1],
            model_version: ['string', 2],
            id: ['string', 3],
            // triton_final_response: the last response of a decoupled request (when asked for with
            // triton_enable_empty_final_response).
            parameters: { keyType: 'string', type: 'InferParameter', id: 4 },
            outputs: ['InferOutputTensor', 5, 'repeated'],
            raw_output_contents: ['bytes', 6, 'repeated'],
          }),
          nested: { InferOutputTensor: { fields: fields({ name: ['string', 1], datatype: ['string', 2], shape: ['int64', 3, 'repeated'] }) } },
        },
        // A stream's message: an error for one request, or one of its responses.
        ModelStreamInferResponse: { fields: fields({ error_message: ['string', 1], infer_response: ['ModelInferResponse', 2] }) },
        // A oneof in the spec; protobufjs writes whichever one field is set.
        InferParameter: { fields: fields({ bool_param: ['bool', 1], int64_param: ['int64', 2], string_param: ['string', 3], uint64_param: ['uint64', 5] }) },
        ModelConfigRequest: { fields: fields({ name: ['string', 1], version: ['string', 2] }) },
        ModelConfigResponse: { fields: fields({ config: ['ModelConfig', 1] }) },
        ModelConfig: {
          fields: fields({
            name: ['string', 1],
            backend: ['string', 17],
            max_batch_size: ['int32', 4],
            parameters: { keyType: 'string', type: 'ModelParameter', id: 14 },
          }),
        },
        ModelParameter: { fields: fields({ string_value: ['string', 1] }) },
        ModelStatisticsRequest: { fields: fields({ name: ['string', 1], version: ['string', 2] }) },
        ModelStatisticsResponse: { fields: fields({ model_stats: ['ModelStatistics', 1, 'repeated'] }) },
        ModelStatistics: {
          fields: fields({
            name: ['string', 1],
            version: ['string', 2],
            inference_count: ['uint64', 4],
            execution_count: ['uint64', 5],
            inference_stats: ['InferStatistics', 6],
          }),
        },
        InferStatistics: { fields: fields({ success: ['StatisticDuration', 1], fail: ['StatisticDuration', 2] }) },
        StatisticDuration: { fields: fields({ count: ['uint64', 1], ns: ['uint64', 2] }) },
      },
    },
  },
};
